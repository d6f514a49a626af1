import Datasets
import LinearAlgebra

/// `count` random grayscale `height x width` images in 3 classes with a little class signal, so
/// that training moves: pixel j of an image of class y is uniform in `0..<noise`, plus `signal`
/// where `j % 3 == y` (capped at 255). Labels and pixels are drawn from one seeded stream, in
/// that order per image.
public func syntheticImages(count n: Int, height: Int, width: Int, seed: UInt64, noise: Int, signal: Int) throws -> ImageSet {
  var rng = SeededGenerator(seed: seed)
  let d = height * width
  var pixels = [UInt8](repeating: 0, count: n * d)
  var labels = [Int32](repeating: 0, count: n)
  for i in 0..<n {
    let y = rng.nextBelow(3)
    labels[i] = Int32(y)
    for j in 0..<d { pixels[i * d + j] = UInt8(min(255, rng.nextBelow(noise) + (j % 3 == y ? signal : 0))) }
  }
  return try ImageSet(
    pixels: pixels, labels: labels, shape: ImageShape(height: height, width: width, channels: 1, layout: .grayscale), classes: 3)
}
