import Foundation
import Testing

@testable import Datasets

@Suite("Data sources and splits")
struct SplitsTests {
  @Test func parseDataSource() throws {
    #expect(try DataSource(parsing: "fashion-mnist") == .fashionMNIST)
    #expect(try DataSource(parsing: "mnist:/data/mnist") == .mnist(directory: "/data/mnist"))
    #expect(try DataSource(parsing: "idx:rel/dir") == .idx(directory: "rel/dir"))
    #expect(try DataSource(parsing: "cifar10:/d:with:colons") == .cifar10(directory: "/d:with:colons"))
    #expect(DataSource.cifar10(directory: "/x").description == "cifar10:/x")
    #expect(try DataSource(parsing: DataSource.mnist(directory: "/m").description) == .mnist(directory: "/m"))
    for bad in ["", "mnist", "svhn:/x", "mnist:", "fashion"] {
      expectDatasetError(.invalidOption, containing: ["--data", "fashion-mnist", "mnist:DIR", "idx:DIR", "cifar10:DIR"]) {
        _ = try DataSource(parsing: bad)
      }
    }
    let json = try JSONEncoder().encode(DataSource.idx(directory: "/i"))
    #expect(try JSONDecoder().decode(DataSource.self, from: json) == .idx(directory: "/i"))
  }

  @Test func parseValidationSplit() throws {
    #expect(try ValidationSplit(parsing: "1000") == .last(1000))
    #expect(try ValidationSplit(parsing: "0") == .last(0))
    #expect(try ValidationSplit(parsing: "batch2") == .cifarBatch2)
    #expect(ValidationSplit.default == .last(5000))
    for bad in ["-1", "ten", "", "batch3"] {
      expectDatasetError(.invalidOption, containing: ["--validation", "batch2"]) { _ = try ValidationSplit(parsing: bad) }
    }
  }

  @Test("IDX: validation carved from the end, train limit keeps the first samples, test official")
  func idxSplits() throws {
    let dir = try TempDirectory()
    let (trainPixels, testPix) = try writeIDXSet(in: dir, train: 30, test: 7)
    let f = 12
    let s = try DatasetSplits.load(.idx(directory: dir.path), validation: .last(8))
    #expect(s.train.count == 22 && s.validation.count == 8 && s.test.count == 7)
    #expect(s.features == f)
    #expect(s.train.pixels == Array(trainPixels[0..<(22 * f)]))
    #expect(s.validation.pixels == Array(trainPixels[(22 * f)...]))
    #expect(s.train.labels == (0..<22).map { Int32($0 % 10) })
    #expect(s.validation.labels == (22..<30).map { Int32($0 % 10) })
    #expect(s.test.pixels == testPix)
    #expect(s.test.labels == (0..<7).map { Int32(($0 + 3) % 10) })
    #expect(s.normalization == FeatureNormalization(computingOver: s.train))
    #expect(s.sourceDescription.contains("train 22") && s.sourceDescription.contains("validation 8"))

    let limited = try DatasetSplits.load(.mnist(directory: dir.path), validation: .last(8), trainLimit: 5)
    #expect(limited.train.count == 5)
    #expect(limited.train.pixels == Array(trainPixels[0..<(5 * f)]))
    #expect(limited.validation.pixels == s.validation.pixels)
    #expect(limited.test.count == 7)
    // Normalization is fitted on the limited training set only.
    #expect(limited.normalization == FeatureNormalization(computingOver: s.train.prefix(5)))
    #expect(limited.normalization != s.normalization)

    let big = try DatasetSplits.load(.idx(directory: dir.path), validation: .last(0), trainLimit: 1000)
    #expect(big.train.count == 30 && big.validation.count == 0)
  }

  @Test("fashion-mnist reads from the injected directory, plain files and dotted MNIST names too")
  func fashionDirectoryAndNames() throws {
    let dir = try TempDirectory()
    try writeIDXSet(in: dir, subdirectory: "fm", train: 12, test: 4, gzip: false)
    let s = try DatasetSplits.load(.fashionMNIST, validation: .last(2), trainLimit: nil, fashionMNISTDirectory: dir.file("fm"))
    #expect(s.train.count == 10 && s.validation.count == 2 && s.test.count == 4)
    #expect(s.sourceDescription.contains("Fashion-MNIST"))

    let dotted = try dir.subdirectory("dotted")
    for (from, to) in [
      ("train-images-idx3-ubyte", "train-images.idx3-ubyte"), ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
      ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"), ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
    ] {
      try FileManager.default.copyItem(atPath: dir.file("fm/" + from), toPath: dotted + "/" + to)
    }
    let d = try DatasetSplits.load(.mnist(directory: dotted), validation: .last(2))
    #expect(d.train.pixels == s.train.pixels && d.test.labels == s.test.labels)

    expectDatasetError(.missingFile, containing: [dir.file("nowhere"), "directory not found"]) {
      _ = try DatasetSplits.load(.fashionMNIST, validation: .last(2), trainLimit: nil, fashionMNISTDirectory: dir.file("nowhere"))
    }
    let partial = try dir.subdirectory("partial")
    try FileManager.default.copyItem(atPath: dir.file("fm/train-images-idx3-ubyte"), toPath: partial + "/train-images-idx3-ubyte")
    expectDatasetError(.missingFile, containing: ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte", partial]) {
      _ = try DatasetSplits.load(.idx(directory: partial), validation: .last(2))
    }
  }

  @Test("invalid --validation and --train-limit values are rejected naming the flag")
  func invalidSplitValues() throws {
    let dir = try TempDirectory()
    try writeIDXSet(in: dir, train: 10, test: 3)
    let source = DataSource.idx(directory: dir.path)
    expectDatasetError(.invalidOption, containing: ["--validation", "10", "out of 10", "at most 9"]) {
      _ = try DatasetSplits.load(source, validation: .last(10))
    }
    expectDatasetError(.invalidOption, containing: ["--validation", "-1"]) {
      _ = try DatasetSplits.load(source, validation: .last(-1))
    }
    expectDatasetError(.invalidOption, containing: ["--validation", "batch2", "CIFAR-10"]) {
      _ = try DatasetSplits.load(source, validation: .cifarBatch2)
    }
    for limit in [0, -5] {
      expectDatasetError(.invalidOption, containing: ["--train-limit", "\(limit)", "> 0"]) {
        _ = try DatasetSplits.load(source, validation: .last(2), trainLimit: limit)
      }
    }
    #expect(try DatasetSplits.load(source, validation: .last(9)).train.count == 1)
  }

  @Test("CIFAR-10: five batches concatenated with the last N as validation")
  func cifarLast() throws {
    let dir = try TempDirectory()
    let expected = try writeCIFARSet(in: dir, perBatch: 4)
    let s = try DatasetSplits.load(.cifar10(directory: dir.path), validation: .last(6))
    #expect(s.train.count == 14 && s.validation.count == 6 && s.test.count == 4)
    #expect(s.train.shape == .cifar10)
    #expect(s.train.pixels == Array(expected.pixels[0..<(14 * 3072)]))
    #expect(s.validation.pixels == Array(expected.pixels[(14 * 3072)...]))
    #expect(s.validation.labels == Array(expected.labels[14...]))
    #expect(s.test.labels == (0..<4).map { Int32(($0 + 6) % 10) })
    let limited = try DatasetSplits.load(.cifar10(directory: dir.path), validation: .last(6), trainLimit: 3)
    #expect(limited.train.labels == Array(expected.labels[0..<3]))
  }

  @Test("CIFAR-10 batch2: train on data_batch_1, validate on data_batch_2; tarball subdirectory found")
  func cifarBatch2() throws {
    let dir = try TempDirectory()
    let expected = try writeCIFARSet(in: dir, subdirectory: "cifar-10-batches-bin", perBatch: 3)
    let s = try DatasetSplits.load(.cifar10(directory: dir.path), validation: .cifarBatch2)
    #expect(s.train.count == 3 && s.validation.count == 3 && s.test.count == 3)
    #expect(s.train.pixels == Array(expected.pixels[0..<(3 * 3072)]))
    #expect(s.train.labels == Array(expected.labels[0..<3]))
    #expect(s.validation.pixels == Array(expected.pixels[(3 * 3072)..<(6 * 3072)]))
    #expect(s.validation.labels == Array(expected.labels[3..<6]))
    #expect(s.normalization == FeatureNormalization(computingOver: s.train))

    try FileManager.default.removeItem(atPath: dir.file("cifar-10-batches-bin/test_batch.bin"))
    expectDatasetError(.missingFile, containing: ["test_batch.bin", "not found"]) {
      _ = try DatasetSplits.load(.cifar10(directory: dir.path), validation: .cifarBatch2)
    }
  }

  @Test func imageSetSlicingAndConcatenation() throws {
    let shape = ImageShape(height: 1, width: 2, channels: 1, layout: .grayscale)
    let a = try ImageSet(pixels: [1, 2, 3, 4, 5, 6], labels: [1, 2, 3], shape: shape)
    let b = try ImageSet(pixels: [7, 8], labels: [4], shape: shape)
    let c = try ImageSet.concatenated([a, b])
    #expect(c.pixels == [1, 2, 3, 4, 5, 6, 7, 8] && c.labels == [1, 2, 3, 4])
    #expect(c.prefix(2).pixels == [1, 2, 3, 4] && c.prefix(2).labels == [1, 2])
    #expect(c.suffix(1).pixels == [7, 8] && c.suffix(1).labels == [4])
    #expect(c[1..<3].pixels == [3, 4, 5, 6] && c[1..<3].labels == [2, 3])
    #expect(c.prefix(99).count == 4)
    var d = c
    d.removeLast(3)
    #expect(d.pixels == [1, 2] && d.labels == [1])
    d.keepFirst(0)
    #expect(d.isEmpty && d.pixels.isEmpty)
    let other = try ImageSet(pixels: [1], labels: [0], shape: ImageShape(height: 1, width: 1, channels: 1, layout: .grayscale))
    #expect(throws: DatasetError.self) { _ = try ImageSet.concatenated([a, other]) }
    #expect(throws: DatasetError.self) { _ = try ImageSet(pixels: [1, 2, 3], labels: [0, 1], shape: shape) }
    #expect(throws: DatasetError.self) { _ = try ImageSet(pixels: [1, 2], labels: [10], shape: shape) }
    #expect(c.classCounts() == [0, 1, 1, 1, 1, 0, 0, 0, 0, 0])
  }
}
