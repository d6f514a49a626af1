/// Bodies of the element-wise kernels of `Real`, written once and specialized for `Float` and
/// `Double` by the conformances in `Real.swift` (same module, concrete call sites).
/// Row-major `[rows, cols]` throughout; loops run over raw pointers so that they vectorize.
enum Kernels {
  @inline(__always)
  static func broadcastRows<T: Real>(_ v: UnsafePointer<T>, _ rows: Int, _ cols: Int, _ y: UnsafeMutablePointer<T>) {
    for i in 0..<rows { (y + i * cols).update(from: v, count: cols) }
  }

  @inline(__always)
  static func relu<T: Real>(_ x: UnsafeMutablePointer<T>, _ n: Int) {
    for i in 0..<n { x[i] = x[i] > 0 ? x[i] : 0 }
  }

  @inline(__always)
  static func reluBackward<T: Real>(_ g: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ n: Int) {
    for i in 0..<n { g[i] = a[i] > 0 ? g[i] : 0 }
  }

  @inline(__always)
  static func columnSums<T: Real>(_ x: UnsafePointer<T>, _ rows: Int, _ cols: Int, _ s: UnsafeMutablePointer<T>, _ accumulate: Bool) {
    if !accumulate { s.update(repeating: 0, count: cols) }
    for i in 0..<rows {
      let row = x + i * cols
      for j in 0..<cols { s[j] += row[j] }
    }
  }

  @inline(__always)
  static func columnCenteredSquares<T: Real>(_ x: UnsafePointer<T>, _ c: UnsafePointer<T>, _ rows: Int, _ cols: Int, _ s: UnsafeMutablePointer<T>, _ accumulate: Bool) {
    if !accumulate { s.update(repeating: 0, count: cols) }
    for i in 0..<rows {
      let row = x + i * cols
      for j in 0..<cols {
        let d = row[j] - c[j]
        s[j] += d * d
      }
    }
  }

  @inline(__always)
  static func columnDots<T: Real>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ rows: Int, _ cols: Int, _ s: UnsafeMutablePointer<T>, _ accumulate: Bool) {
    if !accumulate { s.update(repeating: 0, count: cols) }
    for i in 0..<rows {
      let rx = x + i * cols, ry = y + i * cols
      for j in 0..<cols { s[j] += rx[j] * ry[j] }
    }
  }

  @inline(__always)
  static func sumOfSquares<T: Real>(_ x: UnsafePointer<T>, _ n: Int) -> Double {
    // Blocks of 1024 summed in T, blocks accumulated in Double: vectorizes and stays accurate.
    var total = 0.0
    var start = 0
    while start < n {
      let end = min(n, start + 1024)
      var block: T = 0
      for i in start..<end { block += x[i] * x[i] }
      total += Double(block)
      start = end
    }
    return total
  }

  @inline(__always)
  static func axpy<T: Real>(_ alpha: T, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int) {
    for i in 0..<n { y[i] += alpha * x[i] }
  }

  @inline(__always)
  static func scale<T: Real>(_ x: UnsafeMutablePointer<T>, _ alpha: T, _ n: Int) {
    for i in 0..<n { x[i] *= alpha }
  }

  @inline(__always)
  static func batchNormApply<T: Real>(
    _ x: UnsafePointer<T>, _ rows: Int, _ cols: Int, _ mean: UnsafePointer<T>, _ invStd: UnsafePointer<T>,
    _ gamma: UnsafePointer<T>, _ beta: UnsafePointer<T>, _ xhat: UnsafeMutablePointer<T>?, _ y: UnsafeMutablePointer<T>
  ) {
    if let xhat {
      for i in 0..<rows {
        let rx = x + i * cols, rh = xhat + i * cols, ry = y + i * cols
        for j in 0..<cols {
          let h = (rx[j] - mean[j]) * invStd[j]
          rh[j] = h
          ry[j] = gamma[j] * h + beta[j]
        }
      }
    } else {
      for i in 0..<rows {
        let rx = x + i * cols, ry = y + i * cols
        for j in 0..<cols { ry[j] = gamma[j] * ((rx[j] - mean[j]) * invStd[j]) + beta[j] }
      }
    }
  }

  @inline(__always)
  static func batchNormBackward<T: Real>(
    _ dy: UnsafeMutablePointer<T>, _ xhat: UnsafePointer<T>, _ rows: Int, _ cols: Int,
    _ gamma: UnsafePointer<T>, _ invStd: UnsafePointer<T>, _ sumDy: UnsafePointer<T>, _ sumDyXhat: UnsafePointer<T>,
    _ count: Int
  ) {
    let inv = 1 / T(count)
    for i in 0..<rows {
      let rd = dy + i * cols, rh = xhat + i * cols
      for j in 0..<cols {
        rd[j] = gamma[j] * invStd[j] * (rd[j] - sumDy[j] * inv - rh[j] * (sumDyXhat[j] * inv))
      }
    }
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
      var best = 0
      var m = s[0]
      for j in 1..<classes where s[j] > m { m = s[j]; best = j }
      if best == y { correct += 1 }
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
      var best = 0
      for j in 1..<classes where s[j] > s[best] { best = j }
      if best == y { correct += 1 }
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

  @inline(__always)
  static func momentumStep<T: Real>(
    _ theta: UnsafeMutablePointer<T>, _ v: UnsafeMutablePointer<T>, _ sum: UnsafePointer<T>, _ n: Int,
    _ inverseBatch: T, _ decay: T, _ eta: T, _ rho: T
  ) {
    if rho == 0 {
      for i in 0..<n { theta[i] -= eta * (sum[i] * inverseBatch + decay * theta[i]) }
    } else {
      for i in 0..<n {
        let vi = rho * v[i] + eta * (sum[i] * inverseBatch + decay * theta[i])
        v[i] = vi
        theta[i] -= vi
      }
    }
  }

  @inline(__always)
  static func gatherNormalized<T: Real>(
    _ pixels: UnsafePointer<UInt8>, _ indices: UnsafePointer<Int>, _ rows: Int, _ cols: Int,
    _ mean: UnsafePointer<T>, _ invStd: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>
  ) {
    let scale: T = 1 / 255
    for i in 0..<rows {
      let src = pixels + indices[i] * cols
      let dst = y + i * cols
      for j in 0..<cols { dst[j] = (T(src[j]) * scale - mean[j]) * invStd[j] }
    }
  }
}
