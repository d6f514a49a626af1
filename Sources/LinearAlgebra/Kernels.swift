/// Bodies of the loss kernels of `Real`, written once and specialized for `Float` and `Double`
/// by the conformances in `Real.swift` (same module, concrete call sites). They run on
/// `[rows, classes]` scores, a few microseconds per step; the element-wise kernels over whole
/// activations are in C (`CKernels`), where they vectorize.
enum Kernels {
  /// The first index of the largest of `s[0..<classes]` (the predicted class).
  @inline(__always)
  static func argmax<T: Real>(_ s: UnsafePointer<T>, _ classes: Int) -> Int {
    var best = 0
    for j in 1..<classes where s[j] > s[best] { best = j }
    return best
  }

  @inline(__always)
  static func softmaxCrossEntropy<T: Real>(
    _ logits: UnsafePointer<T>, _ labels: UnsafePointer<Int32>, _ rows: Int, _ classes: Int,
    _ gradient: UnsafeMutablePointer<T>?
  ) -> (lossSum: Double, correct: Int) {
    var lossSum = 0.0
    var correct = 0
    for i in 0..<rows {
      let s = logits + i * classes
      let y = Int(labels[i])
      let best = argmax(s, classes)
      if best == y { correct += 1 }
      let m = s[best]
      var z: T = 0
      for j in 0..<classes { z += T.exp(s[j] - m) }
      let logZ = T.log(z) + m
      lossSum += Double(logZ - s[y])
      if let gradient {
        let g = gradient + i * classes
        let invZ = 1 / z
        for j in 0..<classes { g[j] = T.exp(s[j] - m) * invZ }
        g[y] -= 1
      }
    }
    return (lossSum, correct)
  }

  @inline(__always)
  static func multiclassHinge<T: Real>(
    _ scores: UnsafePointer<T>, _ labels: UnsafePointer<Int32>, _ rows: Int, _ classes: Int,
    _ gradient: UnsafeMutablePointer<T>?
  ) -> (lossSum: Double, correct: Int) {
    var lossSum = 0.0
    var correct = 0
    for i in 0..<rows {
      let s = scores + i * classes
      let y = Int(labels[i])
      if argmax(s, classes) == y { correct += 1 }
      let sy = s[y]
      var active = 0
      let g = gradient.map { $0 + i * classes }
      for j in 0..<classes {
        let margin = j == y ? 0 : s[j] - sy + 1
        if margin > 0 {
          lossSum += Double(margin)
          active += 1
          g?[j] = 1
        } else {
          g?[j] = 0
        }
      }
      g?[y] = T(-active)
    }
    return (lossSum, correct)
  }
}
