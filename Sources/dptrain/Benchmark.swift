import ArgumentParser
import Datasets
import Distributed
import Foundation
import LinearAlgebra
import NeuralNetwork
import Training

/// One matrix product of a training step: `C[m, n] = op(A) op(B)` with `k` inner.
struct GemmShape: CustomStringConvertible {
  var label: String
  var transA: Bool, transB: Bool
  var m: Int, n: Int, k: Int
  var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
  var description: String { "\(label) \(m)x\(n)x\(k)\(transA ? " A^T" : "")\(transB ? " B^T" : "")" }

  /// The products of one step of `architecture` on `rows` samples, in the orientation the MLP uses.
  static func trainingStep(_ architecture: Architecture, rows: Int) -> [GemmShape] {
    let s = architecture.sizes
    var shapes: [GemmShape] = []
    for l in 1..<s.count {
      shapes.append(GemmShape(label: "forward L\(l)", transA: false, transB: true, m: rows, n: s[l], k: s[l - 1]))
      shapes.append(GemmShape(label: "dW L\(l)", transA: true, transB: false, m: s[l], n: s[l - 1], k: rows))
      if l > 1 { shapes.append(GemmShape(label: "dX L\(l)", transA: false, transB: false, m: rows, n: s[l - 1], k: s[l])) }
    }
    return shapes
  }

  /// Seconds per product, best of `repeats` timings of `iterations` calls.
  func time<T: Real>(_: T.Type, iterations: Int = 200, repeats: Int = 5) -> Double {
    let rowsA = transA ? k : m
    let colsA = transA ? m : k
    let rowsB = transB ? n : k
    let colsB = transB ? k : n
    var rng = SeededGenerator(seed: 7)
    let a = (0..<(rowsA * colsA)).map { _ in T(rng.nextGaussian()) }
    let b = (0..<(rowsB * colsB)).map { _ in T(rng.nextGaussian()) }
    var c = [T](repeating: 0, count: m * n)
    var best = Double.infinity
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<iterations {
              T.gemm(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: pa.baseAddress!, lda: colsA,
                b: pb.baseAddress!, ldb: colsB, beta: 0, c: pc.baseAddress!, ldc: n)
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 / Double(iterations))
          }
        }
      }
    }
    return best
  }
}

struct Benchmark: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "benchmark",
    abstract: "Measure training speed against the SGEMM rate of the same matrix shapes (used by scripts/bench).")

  @OptionGroup(title: "Data") var dataOptions: DataOptions

  @Option(help: "Hidden layer widths.")
  var hidden = "256,128"

  @Flag(help: "BatchNorm in the hidden layers.")
  var batchNorm = false

  @Option(help: "Mini-batch size.")
  var batchSize = 100

  @Option(help: "Training epochs to time (the best epoch is reported).")
  var epochs = 3

  @Option(help: "BLAS threads.")
  var blasThreads = 1

  @OptionGroup(title: "Matrix products") var gemmOptions: GEMMOptions

  @Option(help: ArgumentHelp("float or double.", valueName: "PRECISION"))
  var precision = "float"

  @Option(help: "Use N synthetic CIFAR-shaped (3072-feature) random samples instead of --data.")
  var synthetic: Int?

  @Flag(help: "Print only the GEMM table.")
  var gemmOnly = false

  @Option(help: ArgumentHelp("BatchNorm statistics over ranks: global or local.", valueName: "global|local"))
  var bnSync = "global"

  /// The same checks as `train`'s for the options they share; at most a million synthetic samples.
  func validate() throws {
    var o = dataOptions.options
    o.add("hidden", hidden)
    o.add("batch-size", batchSize)
    o.add("epochs", epochs)
    o.add("blas-threads", blasThreads)
    o.add("precision", precision)
    o.add("bn-sync", bnSync)
    o.add(flag: "batch-norm", batchNorm)
    _ = try usage { try TrainingConfiguration(options: o) }
    if let synthetic, !(1...1_000_000).contains(synthetic) {
      throw ValidationError("--synthetic must be a number of samples in 1...1000000, got \(synthetic)")
    }
  }

  func run() throws {
    let launch = try Launch.start()
    BLAS.setThreads(blasThreads)
    try launch.run(command: "dptrain benchmark") {
      switch precision {
      case "double": try measure(Double.self, communicator: launch.communicator)
      default: try measure(Float.self, communicator: launch.communicator)
      }
    }
  }

  func measure<T: Real>(_: T.Type, communicator: any Communicator) throws {
    let isRoot = communicator.rank == 0
    let ranks = communicator.size
    let kernel = try gemmOptions.select(T.self, printing: isRoot)
    let data: DatasetSplits
    if let synthetic {
      var rng = SeededGenerator(seed: 3)
      let shape = ImageShape.cifar10
      let pixels = (0..<(synthetic * shape.features)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
      let labels = (0..<synthetic).map { _ in Int32(rng.nextBelow(10)) }
      let set = try ImageSet(pixels: pixels, labels: labels, shape: shape)
      data = DatasetSplits(
        train: set, validation: .empty(shape: shape), test: .empty(shape: shape),
        normalization: FeatureNormalization(computingOver: set), source: .cifar10(directory: "synthetic"),
        sourceDescription: "synthetic CIFAR-shaped random data, \(synthetic) samples")
    } else {
      data = try dataOptions.load()
    }
    let widths = try usage { try TrainingConfiguration.parseHidden(hidden) }
    let architecture = Architecture(inputSize: data.features, hidden: widths, classes: data.classes, batchNorm: batchNorm)
    // Each rank multiplies its shard: the GEMM table uses the shard's rows (all ranks time it at
    // once, as they train: the figure is per rank with every core busy).
    let shard = (batchSize + ranks - 1) / ranks
    let shapes = GemmShape.trainingStep(architecture, rows: shard)
    func say(_ line: String) { if isRoot { print(line) } }
    say(
      "benchmark: \(architecture.shapeDescription)\(batchNorm ? " BatchNorm (\(bnSync) sync)" : ""), batch \(batchSize), \(T.dtypeName), \(ranks) rank(s) x \(BLAS.threads) BLAS thread(s), \(data.train.count) training samples"
    )
    say("  " + GEMMOptions.header(kernel))
    var gemmSeconds = 0.0
    var stepFlops = 0.0
    for shape in shapes {
      try communicator.barrier()
      let t = shape.time(T.self)
      gemmSeconds += t
      stepFlops += shape.flops
      say(String(format: "  gemm %-32@ %8.1f us  %6.1f GFLOP/s", shape.description as NSString, t * 1e6, shape.flops / t * 1e-9))
    }
    let steps = EpochOrder.batchCount(count: data.train.count, batchSize: batchSize)
    let gemmRate = stepFlops / gemmSeconds * Double(ranks)
    say(
      String(
        format: "  GEMM rate on these shapes (all ranks): %.1f GFLOP/s; the products of one epoch need %.3f s", gemmRate * 1e-9,
        gemmSeconds * Double(steps)))
    if gemmOnly {
      // Every orientation of the two big products, for choosing layouts.
      for (m, n, k) in [
        (batchSize, widths.first ?? 10, data.features), (widths.first ?? 10, batchSize, data.features),
        (widths.first ?? 10, data.features, batchSize), (data.features, widths.first ?? 10, batchSize),
      ] {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
          let g = GemmShape(label: "probe", transA: ta, transB: tb, m: m, n: n, k: k)
          let t = g.time(T.self)
          print(String(format: "  probe %-32@ %8.1f us  %6.1f GFLOP/s", g.description as NSString, t * 1e6, g.flops / t * 1e-9))
        }
      }
      return
    }

    var best = Double.infinity
    var bestCommunication = 0.0
    for e in 0..<epochs {
      var withSync = TrainingConfiguration()
      withSync.data = data.source
      withSync.validation = .last(0)
      withSync.architecture = ArchitectureSettings(hidden: widths, batchNorm: batchNorm)
      withSync.seed = UInt64(e + 1)
      withSync.precision = T.self == Float.self ? .float : .double
      withSync.batchSize = batchSize
      withSync.lambda = 1e-4
      withSync.schedule = .constant(eta: 0.01)
      withSync.epochs = 1
      withSync.bnSync = BatchNormSync(rawValue: bnSync) ?? .global
      withSync.ranks = ranks
      let trainer = Trainer<T>(
        configuration: withSync, model: MLP(architecture: architecture, initialization: .he, seed: UInt64(e + 1)),
        train: data.train, validation: nil, normalization: data.normalization, communicator: communicator)
      try communicator.barrier()
      let result = try trainer.trainOnly()
      // The slowest rank decides the epoch; communication share per rank.
      var times = [Double](repeating: 0, count: 2 * ranks)
      times[2 * communicator.rank] = result.trainSeconds
      times[2 * communicator.rank + 1] = result.communicationSeconds
      try communicator.allReduceSum(&times)
      let epochSeconds = stride(from: 0, to: times.count, by: 2).map { times[$0] }.max()!
      let shares = (0..<ranks).map { String(format: "%.0f%%", 100 * times[2 * $0 + 1] / max(times[2 * $0], 1e-9)) }
      if epochSeconds < best {
        best = epochSeconds
        bestCommunication = times[1] / max(times[0], 1e-9)
      }
      say(
        String(format: "  epoch %d: %.3f s", e + 1, epochSeconds)
          + (ranks > 1 ? "  (collectives' share of step time per rank: \(shares.joined(separator: " ")))" : ""))
    }
    let epochFlops = Double(architecture.trainingFlopsPerSample) * Double(data.train.count)
    say(
      String(
        format:
          "RESULT ranks %d  s/epoch %.3f  samples/s %.0f  GFLOP/s %.1f  fraction of GEMM rate %.2f  allreduce share %.1f%%  (GEMM-only epoch %.3f s)  gemm %@",
        ranks, best, Double(data.train.count) / best, epochFlops / best * 1e-9, epochFlops / best / gemmRate, 100 * bestCommunication,
        gemmSeconds * Double(steps),
        "\(kernel.library.replacingOccurrences(of: " ", with: "-"))/\(kernel.kernel)" as NSString))
  }
}
