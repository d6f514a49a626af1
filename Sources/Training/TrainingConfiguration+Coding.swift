import Datasets
import Foundation
import LinearAlgebra
import NeuralNetwork

/// `config.json`: the options' own names and spellings, so that a person reads it and can write
/// one (every key but `version` may be left out; it then takes the default):
///
/// ```json
/// { "data": "fashion-mnist", "validation": 5000, "init": "he", "precision": "float",
///   "architecture": { "hidden": [50], "batchNorm": false, "loss": "cross-entropy", ... },
///   "schedule": { "cyclical": [0.0001, 0.1, 2750] }, "epochs": 20, "checkpointEvery": "epoch", ... }
/// ```
///
/// Schedules: `{"eta": 0.01}`, `{"eta": 0.01, "decay": 0.9}`, `{"cyclical": [MIN, MAX, N_S]}`.
/// A `config.json` written before this form (Swift's own coding: `"initialization": {"he": {}}`)
/// is read too, so old run directories resume.
extension TrainingConfiguration: Codable {
  enum Key: String, CodingKey {
    case version, data, validation, trainLimit, architecture, bnAlpha
    case initialization = "init"
    case seed, initModel
    case precision, batchSize, momentum, lambda, schedule, epochs, cycles, maxSteps, evalEvery, shuffle
    case bnSync, update, checkEvery, checkpointEvery, blasThreads, gemm, ranks, gemmKernel
  }

  enum ScheduleKey: String, CodingKey { case eta, decay, cyclical }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: Key.self)
    try c.encode(version, forKey: .version)
    try c.encode(data.description, forKey: .data)
    switch validation {
    case .last(let n): try c.encode(n, forKey: .validation)
    case .cifarBatch2: try c.encode(validation.description, forKey: .validation)
    }
    try c.encodeIfPresent(trainLimit, forKey: .trainLimit)
    try c.encode(architecture, forKey: .architecture)
    try c.encode(bnAlpha, forKey: .bnAlpha)
    try c.encode(initialization.description, forKey: .initialization)
    try c.encode(seed, forKey: .seed)
    try c.encodeIfPresent(initModel, forKey: .initModel)
    try c.encode(precision, forKey: .precision)
    try c.encode(batchSize, forKey: .batchSize)
    try c.encode(momentum, forKey: .momentum)
    try c.encode(lambda, forKey: .lambda)
    var s = c.nestedContainer(keyedBy: ScheduleKey.self, forKey: .schedule)
    switch schedule {
    case .constant(let eta): try s.encode(eta, forKey: .eta)
    case .decay(let eta, let factor):
      try s.encode(eta, forKey: .eta)
      try s.encode(factor, forKey: .decay)
    case .cyclical(let lo, let hi, let ns):
      var parts = s.nestedUnkeyedContainer(forKey: .cyclical)
      try parts.encode(lo)
      try parts.encode(hi)
      if let ns { try parts.encode(Double(ns)) }
    }
    try c.encodeIfPresent(epochs, forKey: .epochs)
    try c.encodeIfPresent(cycles, forKey: .cycles)
    try c.encodeIfPresent(maxSteps, forKey: .maxSteps)
    try c.encodeIfPresent(evalEvery, forKey: .evalEvery)
    try c.encode(shuffle, forKey: .shuffle)
    try c.encode(bnSync, forKey: .bnSync)
    try c.encode(update, forKey: .update)
    try Self.encode(stepsOr: checkEvery, word: "epoch", to: &c, forKey: .checkEvery)
    switch checkpointEvery {
    case .steps(let n): try c.encode(n, forKey: .checkpointEvery)
    default: try c.encode(checkpointEvery.description, forKey: .checkpointEvery)
    }
    try c.encodeIfPresent(blasThreads, forKey: .blasThreads)
    try c.encode(gemm, forKey: .gemm)
    try c.encodeIfPresent(ranks, forKey: .ranks)
    try c.encodeIfPresent(gemmKernel, forKey: .gemmKernel)
  }

  private static func encode(stepsOr steps: Int?, word: String, to c: inout KeyedEncodingContainer<Key>, forKey key: Key) throws {
    if let steps { try c.encode(steps, forKey: key) } else { try c.encode(word, forKey: key) }
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: Key.self)
    if try Self.isLegacy(decoder) {
      self = try LegacyConfiguration(from: decoder).configuration
      return
    }
    self.init()
    func option<V>(_ key: Key, _ option: String, _ parse: (String) throws -> V) throws -> V? {
      guard c.contains(key), try !c.decodeNil(forKey: key) else { return nil }
      let text: String
      if let n = try? c.decode(Int.self, forKey: key) { text = String(n) } else { text = try c.decode(String.self, forKey: key) }
      do { return try parse(text) } catch let error as DatasetError {
        throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(option): \(error.message)")
      }
    }
    version = try c.decodeIfPresent(String.self, forKey: .version) ?? version
    data = try option(.data, "data") { try DataSource(parsing: $0) } ?? data
    validation = try option(.validation, "validation") { try ValidationSplit(parsing: $0) } ?? validation
    trainLimit = try c.decodeIfPresent(Int.self, forKey: .trainLimit)
    architecture = try c.decodeIfPresent(ArchitectureSettings.self, forKey: .architecture) ?? architecture
    bnAlpha = try c.decodeIfPresent(Double.self, forKey: .bnAlpha) ?? bnAlpha
    if let text = try c.decodeIfPresent(String.self, forKey: .initialization) {
      guard let i = Initialization(argument: text) else {
        throw DecodingError.dataCorruptedError(
          forKey: .initialization, in: c, debugDescription: "'\(text)' is not an initialization; expected he, xavier or gaussian:SIGMA")
      }
      initialization = i
    }
    seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
    initModel = try c.decodeIfPresent(String.self, forKey: .initModel)
    precision = try c.decodeIfPresent(Precision.self, forKey: .precision) ?? precision
    batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
    momentum = try c.decodeIfPresent(Double.self, forKey: .momentum) ?? momentum
    lambda = try c.decodeIfPresent(Double.self, forKey: .lambda) ?? lambda
    if c.contains(.schedule) {
      let s = try c.nestedContainer(keyedBy: ScheduleKey.self, forKey: .schedule)
      if var parts = try? s.nestedUnkeyedContainer(forKey: .cyclical) {
        let lo = try parts.decode(Double.self)
        let hi = try parts.decode(Double.self)
        let ns = parts.isAtEnd ? nil : try parts.decode(Double.self)
        guard ns.map({ $0 == $0.rounded() && abs($0) < 1e15 }) ?? true else {
          throw DecodingError.dataCorruptedError(in: parts, debugDescription: "n_s must be a whole number of steps")
        }
        schedule = .cyclical(etaMin: lo, etaMax: hi, stepSize: ns.map { Int($0) })
      } else {
        let eta = try s.decode(Double.self, forKey: .eta)
        schedule = try s.decodeIfPresent(Double.self, forKey: .decay).map { .decay(eta: eta, factor: $0) } ?? .constant(eta: eta)
      }
    }
    epochs = try c.decodeIfPresent(Int.self, forKey: .epochs)
    cycles = try c.decodeIfPresent(Int.self, forKey: .cycles)
    maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps)
    evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery)
    shuffle = try c.decodeIfPresent(Bool.self, forKey: .shuffle) ?? shuffle
    bnSync = try c.decodeIfPresent(BatchNormSync.self, forKey: .bnSync) ?? bnSync
    update = try c.decodeIfPresent(UpdateMode.self, forKey: .update) ?? update
    func steps(_ key: Key, _ text: String, or words: String) throws -> Int {
      guard let n = Int(text) else {
        throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "'\(text)' is not a number of steps or \(words)")
      }
      return n
    }
    checkEvery = try option(.checkEvery, "checkEvery") { $0 == "epoch" ? nil : try steps(.checkEvery, $0, or: "\"epoch\"") } ?? nil
    checkpointEvery =
      try option(.checkpointEvery, "checkpointEvery") { text -> CheckpointInterval in
        switch text {
        case "epoch": return .epoch
        case "never": return .never
        default: return .steps(try steps(.checkpointEvery, text, or: "\"epoch\" or \"never\""))
        }
      } ?? checkpointEvery
    blasThreads = try c.decodeIfPresent(Int.self, forKey: .blasThreads)
    gemm = try c.decodeIfPresent(GEMMRequest.self, forKey: .gemm) ?? gemm
    ranks = try c.decodeIfPresent(Int.self, forKey: .ranks)
    gemmKernel = try c.decodeIfPresent(GEMMKernel.self, forKey: .gemmKernel)
  }

  /// Swift's own coding of the first configurations: `"initialization": {"he": {}}`.
  private static func isLegacy(_ decoder: any Decoder) throws -> Bool {
    struct Probe: Decodable {
      enum K: String, CodingKey { case initialization }
      let legacy: Bool
      init(from decoder: any Decoder) throws { legacy = try decoder.container(keyedBy: K.self).contains(.initialization) }
    }
    return try Probe(from: decoder).legacy
  }
}

/// A `config.json` as dptrain wrote it before the readable form (Swift's synthesized coding of
/// the enums, the architecture stored twice, `checkpointEachEpoch` nil for false).
private struct LegacyConfiguration: Decodable {
  var version: String
  var data: DataSource
  var validation: ValidationSplit
  var trainLimit: Int?
  var bnAlpha: Double
  var initialization: Initialization
  var seed: UInt64
  var precision: Precision
  var batchSize: Int
  var momentum: Double
  var lambda: Double
  var schedule: LearningRateSchedule
  var epochs: Int?
  var cycles: Int?
  var maxSteps: Int?
  var evalEvery: Int?
  var shuffle: Bool
  var initModel: String?
  var bnSync: BatchNormSync?
  var shardedUpdate: Bool?
  var checkEvery: Int?
  var checkpointEvery: Int?
  var checkpointEachEpoch: Bool?
  var ranks: Int?
  var blasThreads: Int?
  var gemm: GEMMBackend?
  var gemmKernel: GEMMKernel?
  var architecture: Architecture

  var configuration: TrainingConfiguration {
    var c = TrainingConfiguration()
    c.version = version
    c.data = data
    c.validation = validation
    c.trainLimit = trainLimit
    c.architecture = ArchitectureSettings(hidden: architecture.hidden, batchNorm: architecture.batchNorm, loss: architecture.loss)
    c.architecture.inputSize = architecture.inputSize
    c.architecture.classes = architecture.classes
    c.architecture.batchNormEpsilon = architecture.batchNormEpsilon
    c.bnAlpha = bnAlpha
    c.initialization = initialization
    c.seed = seed
    c.precision = precision
    c.batchSize = batchSize
    c.momentum = momentum
    c.lambda = lambda
    switch schedule {
    case .constant(let eta): c.schedule = .constant(eta: eta)
    case .decay(let eta, let factor): c.schedule = .decay(eta: eta, factor: factor)
    case .cyclical(let lo, let hi, let ns): c.schedule = .cyclical(etaMin: lo, etaMax: hi, stepSize: ns)
    }
    c.epochs = epochs
    c.cycles = cycles
    c.maxSteps = maxSteps
    c.evalEvery = evalEvery
    c.shuffle = shuffle
    c.initModel = initModel
    c.bnSync = bnSync ?? .global
    c.update = shardedUpdate == false ? .replicated : .sharded
    c.checkEvery = checkEvery
    c.checkpointEvery = checkpointEvery.map { .steps($0) } ?? (checkpointEachEpoch == true ? .epoch : .never)
    c.ranks = ranks
    c.blasThreads = blasThreads
    // Products computed before dptrain recorded the backend were OpenBLAS's.
    c.gemm = GEMMRequest(rawValue: (gemm ?? .openblas).rawValue) ?? .openblas
    c.gemmKernel = gemmKernel
    return c
  }
}
