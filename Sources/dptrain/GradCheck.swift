import ArgumentParser
import Datasets
import Files
import Foundation
import LinearAlgebra
import NeuralNetwork
import Reporting
import Training

struct GradCheck: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gradcheck",
    abstract: "Compare analytic gradients with finite differences, in Double, on training samples.",
    discussion: """
      Prints, for every parameter tensor, the max, mean and variance of the relative error
      |a - n| / max(eps, |a| + |n|) over the checked entries, and exits \(ExitCodes.gradientCheckFailed) when the max
      of any tensor exceeds --tolerance. BatchNorm runs in training mode (batch statistics).
      """)

  @OptionGroup(title: "Data") var dataOptions: DataOptions
  @OptionGroup(title: "Model") var modelOptions: ModelOptions

  @Option(help: "L2 regularization lambda of the cost.")
  var lambda = 0.0

  @Option(help: "Number of training samples in the batch.")
  var samples = 20

  @Option(help: "Check the first layer's weights on a seeded subset of D input dimensions (all of them when D >= the input size).")
  var dims = 20

  @Option(help: "Finite differences: centered or forward.")
  var method = DifferenceMethod.centered

  @Option(help: "Finite-difference step h.")
  var h = 1e-5

  @Option(
    help: ArgumentHelp(
      "eps of the relative error's denominator max(eps, |a|+|n|): gradients smaller than eps are judged by |a-n|/eps. Default: the floor under which rounding alone could fail the tolerance, 4 x u x mean loss / h / tolerance within [1e-6, 1e-3] (~1e-4 with the defaults).",
      valueName: "EPS"))
  var eps: Double?

  @Option(help: "Largest acceptable max relative error.")
  var tolerance = 1e-6

  @Option(help: ArgumentHelp("Also write the table as DIR/gradcheck.json (a run directory's report shows it).", valueName: "DIR"))
  var out: String?

  @Option(
    help: ArgumentHelp(
      "Refuse a check estimated (from a timed pass) to take longer than MINUTES, naming what to reduce (default 60).",
      valueName: "MINUTES"))
  var maxMinutes = 60.0

  /// Samples in the check's batch: at most this many.
  static let maxSamples = 10_000

  func validate() throws {
    guard (1...Self.maxSamples).contains(samples) else {
      throw ValidationError("--samples must be in 1...\(Self.maxSamples), got \(samples)")
    }
    guard dims >= 1 else { throw ValidationError("--dims must be >= 1, got \(dims)") }
    guard h > 0 && h < 1 else { throw ValidationError("--h must be in (0, 1), got \(h)") }
    guard tolerance > 0 && tolerance.isFinite else { throw ValidationError("--tolerance must be a finite number > 0, got \(tolerance)") }
    if let eps, !(eps > 0 && eps < 1) { throw ValidationError("--eps must be in (0, 1), got \(eps)") }
    guard lambda >= 0 && lambda.isFinite else { throw ValidationError("--lambda must be a finite number >= 0, got \(lambda)") }
    guard maxMinutes > 0 && maxMinutes.isFinite else {
      throw ValidationError("--max-minutes must be a finite number > 0, got \(maxMinutes)")
    }
    var options = modelOptions.options
    options.add("precision", "double")
    _ = try usage { try TrainingConfiguration(options: options) }
    if let out, out.isEmpty { throw ValidationError("--out: expected a directory, got an empty path") }
  }

  func run() throws {
    BLAS.setThreads(1)
    _ = try GEMMOptions.select(Double.self, request: .auto, printing: true)
    let data = try usage { try dataOptions.load() }
    let n = min(samples, data.train.count)
    let configuration = try usage { try TrainingConfiguration(options: modelOptions.options) }
    let architecture = configuration.architecture.architecture(inputSize: data.features, classes: data.classes)
    let model = MLP<Double>(architecture: architecture, initialization: configuration.initialization, seed: configuration.seed)
    var x = [Double](repeating: 0, count: n * data.features)
    var labels = [Int32](repeating: 0, count: n)
    let normalization = data.normalization
    x.withUnsafeMutableBufferPointer { xb in
      labels.withUnsafeMutableBufferPointer { lb in
        data.train.gather(
          indices: Array(0..<n)[...], mean: normalization.mean(as: Double.self), invStd: normalization.invStd(as: Double.self),
          into: xb.baseAddress!, labels: lb.baseAddress!)
      }
    }
    // The output directory first: a check is not run only to find it cannot be written.
    if let out {
      do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
        throw CommandError("--out \(out): cannot create the directory (\(describeIOError(error)))")
      }
    }
    var check = GradientCheck(model: model, inputs: x, labels: labels, lambda: lambda)
    let selection = check.selectedIndices(dims: dims, seed: configuration.seed)
    let passes = GradientCheck.passes(method: method, selection: selection)
    let perPass = try check.secondsPerPass()
    let estimate = Double(passes) * perPass
    guard estimate <= maxMinutes * 60 else {
      // A usage error (exit 64), without the usage text: the options are valid, the check too long.
      printError(
        "Error: gradcheck would take about \(formatDuration(estimate)): \(passes) passes over \(n) samples of \(String(format: "%.2g", perPass * 1e3)) ms each, above --max-minutes \(maxMinutes); check less: --dims (the first layer's input columns, now \(dims)), --samples (now \(n)), narrower --hidden, or raise --max-minutes"
      )
      throw ExitCode(ExitCode.validationFailure.rawValue)
    }
    let differences = method
    let eps = try self.eps ?? check.automaticRelativeErrorFloor(method: differences, h: h, tolerance: tolerance)
    print(
      "gradient check: \(architecture.shapeDescription)\(architecture.batchNorm ? " BatchNorm" : ""), \(architecture.loss.rawValue), lambda \(lambda), \(n) samples, \(method) differences, h \(h), eps \(String(format: "%.3g", eps))\(self.eps == nil ? " (automatic: rounding floor)" : ""), Double"
    )
    let total = selection.values.reduce(0) { $0 + $1.count }
    if estimate > 10 {
      print(
        "checking \(total) entries: about \(formatDuration(estimate)) (\(passes) passes of \(String(format: "%.2g", perPass * 1e3)) ms)")
    }
    let started = Date()
    var lastLine = started
    let entries = try check.run(method: differences, h: h, selection: selection, eps: eps) { done in
      // A line every 10 s: how far, and how long is left at the rate so far.
      guard done % 64 == 0, Date().timeIntervalSince(lastLine) >= 10 else { return }
      lastLine = Date()
      let elapsed = lastLine.timeIntervalSince(started)
      print(
        "  \(done)/\(total) entries, \(formatDuration(elapsed)) so far, about \(formatDuration(elapsed * Double(total - done) / Double(done))) left"
      )
    }
    print(
      "tensor".padding(toLength: 16, withPad: " ", startingAt: 0)
        + "   checked      max rel     mean rel      var rel    max |a-n|   max |a|")
    for e in entries {
      print(
        e.name.padding(toLength: 16, withPad: " ", startingAt: 0)
          + String(
            format: " %5d/%-6d %10.3e   %10.3e   %10.3e   %10.3e  %8.2e", e.checked, e.total, e.maxRelative, e.meanRelative,
            e.varianceRelative, e.maxAbsolute, e.maxAnalytic))
    }
    let worst = entries.max { $0.maxRelative < $1.maxRelative }!
    if let out {
      let record = GradientCheckRecord(
        network: architecture.shapeDescription + (architecture.batchNorm ? " BatchNorm" : "") + ", " + architecture.loss.rawValue,
        lambda: lambda, samples: n, method: method.rawValue, h: h, eps: eps, tolerance: tolerance, entries: entries,
        passed: worst.maxRelative <= tolerance)
      try RunDirectory.writeJSON(record, to: (out as NSString).appendingPathComponent(ReportFiles.gradientCheck))
    }
    if worst.maxRelative > tolerance {
      let shape = model.layout.slots.first { $0.name == worst.name }?.shape ?? []
      let position =
        shape.count == 2
        ? "[\(worst.worstIndex / shape[1]), \(worst.worstIndex % shape[1])] of \(shape)" : "[\(worst.worstIndex)] of \(shape)"
      printError(
        String(
          format: "worst entry: %@%@, analytic %.6e, numerical %.6e", worst.name, position, worst.worstAnalytic, worst.worstNumerical))
      printError("gradient check FAILED: \(worst.name) max relative error \(worst.maxRelative) > tolerance \(tolerance)")
      throw ExitCode(ExitCodes.gradientCheckFailed)
    }
    print(
      "gradient check passed: every max relative error <= \(tolerance) (worst \(worst.name) \(String(format: "%.3e", worst.maxRelative)))")
  }
}

extension DifferenceMethod: ExpressibleByArgument {}
