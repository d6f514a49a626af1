import Datasets
import Foundation
import LinearAlgebra
import NeuralNetwork
import Testing
import Training

/// `TrainingConfiguration`: the options it is built from, the options it renders, and
/// `config.json`, old and new.
struct ConfigurationTests {
  /// Every option with a value that is not its default.
  static let everyOption: [(name: String, value: String)] = [
    ("data", "cifar10:/tmp/cifar"), ("validation", "batch2"), ("train-limit", "1234"), ("hidden", "64,32"),
    ("batch-norm", "true"), ("bn-alpha", "0.8"), ("loss", "svm"), ("init", "gaussian:0.001"), ("seed", "17"),
    ("init-model", "/tmp/m.safetensors"), ("precision", "double"), ("batch-size", "37"), ("eta", "0.0123456789"),
    ("decay", "0.95"), ("epochs", "7"), ("max-steps", "999"), ("momentum", "0.5"), ("lambda", "1.5e-07"),
    ("eval-every", "11"), ("no-shuffle", "true"), ("bn-sync", "local"), ("update", "replicated"), ("check-every", "13"),
    ("checkpoint-every", "250"), ("blas-threads", "3"), ("gemm", "openblas"),
  ]

  @Test func everyOptionIsReadRenderedAndReadBackTheSame() throws {
    let c = try TrainingConfiguration(options: Self.everyOption)
    #expect(c.architecture.hidden == [64, 32] && c.architecture.batchNorm && c.architecture.loss == .svm)
    #expect(c.schedule == .decay(eta: 0.0123456789, factor: 0.95) && c.lambda == 1.5e-7 && c.shuffle == false)
    #expect(c.checkpointEvery == .steps(250) && c.checkEvery == 13 && c.update == .replicated && c.gemm == .openblas)
    // Every option the table lists is rendered (the schedule's are one of eta/decay/cyclical).
    let rendered = c.arguments
    for (name, _) in Self.everyOption { #expect(rendered.contains("--\(name)"), "\(name) not rendered: \(rendered)") }
    #expect(try TrainingConfiguration(arguments: rendered) == c)
    // And config.json.
    #expect(try JSONDecoder().decode(TrainingConfiguration.self, from: JSONEncoder().encode(c)) == c)
  }

  @Test(arguments: [
    ["--cyclical", "1e-05,0.1,500", "--cycles", "3"], ["--cyclical", "0.001,0.2"], ["--eta", "0.01"], ["--hidden", ""],
    ["--checkpoint-every", "never"], ["--validation", "0", "--data", "mnist:/x"], [],
  ])
  func schedulesLengthsAndDefaultsRoundTrip(_ arguments: [String]) throws {
    let c = try TrainingConfiguration(arguments: arguments)
    #expect(try TrainingConfiguration(arguments: c.arguments) == c)
    #expect(try JSONDecoder().decode(TrainingConfiguration.self, from: JSONEncoder().encode(c)) == c)
  }

  @Test func theDefaultsAreTheReadmes() throws {
    let c = try TrainingConfiguration(options: [])
    #expect(c.data == .fashionMNIST && c.validation == .last(5000) && c.architecture.hidden == [50] && c.batchSize == 100)
    #expect(c.schedule == .cyclical(etaMin: 1e-4, etaMax: 0.1, stepSize: nil) && c.momentum == 0.9 && c.lambda == 5e-4)
    #expect(c.arguments == ["--seed", "1"])
    // 45,000 samples in batches of 100 over 20 epochs: two cycles of n_s = 2250.
    #expect(c.learningRate(stepsPerEpoch: 450) == .cyclical(etaMin: 1e-4, etaMax: 0.1, stepSize: 2250))
  }

  @Test(arguments: [
    ("momentum", "1.5", "--momentum must be in [0, 1), got 1.5"),
    ("hidden", "20,x", "--hidden: 'x' is not a positive width"),
    ("gemm", "mkl", "--gemm: 'mkl' should be auto, onednn or openblas"),
    ("precision", "half", "--precision: 'half' should be float or double"),
    ("bn-sync", "all", "--bn-sync: 'all' should be global or local"),
    ("checkpoint-every", "0", "--checkpoint-every: '0' should be a number of steps >= 1, 'epoch' or 'never'"),
    ("batch-size", "many", "--batch-size: 'many' is not an integer"),
    ("data", "svhn:/x", "invalid --data: unknown data source 'svhn'"),
    ("learning-rate", "0.1", "--learning-rate: not an option of dptrain train"),
  ])
  func aBadValueNamesItsOption(_ name: String, _ value: String, _ message: String) {
    #expect {
      try TrainingConfiguration(options: [(name, value)])
    } throws: { error in
      "\(error)".hasPrefix(message)
    }
  }

  /// Every integer has a documented maximum (no overflow, no allocation of terabytes), every
  /// real must be finite and in range once rounded to the training precision.
  @Test(
    arguments: [
      ([("hidden", "9223372036854775807")], "--hidden: a width of 9223372036854775807 is above the maximum, 65536"),
      ([("hidden", Array(repeating: "8", count: 65).joined(separator: ","))], "--hidden: 65 hidden layers are above the maximum, 64"),
      ([("epochs", "922337203685477580")], "--epochs must be at most 1000000, got 922337203685477580"),
      ([("cyclical", "1e-5,0.1,10"), ("cycles", "9223372036854775807")], "--cycles must be at most 1000000"),
      ([("cyclical", "1e-5,0.1,4611686018427387904")], "--cyclical: N_S must be at most 549755813888 steps"),
      ([("cyclical", "1e-5,0.1,500000000000"), ("cycles", "2")], "--cycles: 2 cycles of 2 x 500000000000 steps are above the maximum"),
      ([("blas-threads", "2147483648")], "--blas-threads must be at most 1024, got 2147483648"),
      ([("batch-size", "4294967296")], "--batch-size must be at most 1048576"),
      ([("max-steps", "9223372036854775807")], "--max-steps must be at most 1099511627776"),
      ([("eval-every", "0")], "--eval-every must be >= 1 steps, got 0"),
      ([("momentum", "0.9999999999")], "--momentum must be in [0, 1), got 0.9999999999, which is 1 in float precision"),
      ([("bn-alpha", "0.99999999")], "--bn-alpha must be in [0, 1), got 0.99999999, which is 1 in float precision"),
      ([("eta", "1e-320")], "--eta is 1e-320, out of float precision's range"),
      ([("eta", "1e-40")], "--eta is 1e-40, out of float precision's range"),
      ([("eta", "1e39")], "--eta is 1e+39, out of float precision's range"),
      ([("eta", "1e-320"), ("precision", "double")], "--eta is 1e-320, out of double precision's range"),
      ([("eta", "inf")], "--eta must be a finite number > 0, got inf"),
      ([("eta", "nan")], "--eta must be a finite number > 0, got nan"),
      ([("lambda", "1e39")], "--lambda must be a finite number >= 0, got 1e+39"),
      ([("cyclical", "0.1,0.100000001")], "--cyclical: need ETA_MIN < ETA_MAX (in float precision)"),
      ([("init", "gaussian:1e-50")], "--init: 'gaussian:1e-50' is not an initialization"),
    ] as [([(name: String, value: String)], String)])
  func boundsAndRoundingAreRefusedNamingTheOption(_ options: [(name: String, value: String)], _ message: String) {
    #expect(errorText(options).hasPrefix(message), "\(errorText(options))")
  }

  @Test func valuesInsideTheBoundsAndThePrecisionAreAccepted() {
    for options in [
      [("momentum", "0.99999994")], [("eta", "1e-37")], [("eta", "1e-300"), ("precision", "double")],
      [("momentum", "0.9999999999"), ("precision", "double")], [("hidden", "65536")], [("epochs", "1000000")],
      [("blas-threads", "1024")], [("cyclical", "1e-5,0.1,274877906944"), ("cycles", "2")],
    ] as [[(name: String, value: String)]] {
      #expect(errorText(options) == "accepted", "\(options)")
    }
  }

  @Test func optionsThatGoTogether() {
    for (options, message) in [
      ([("decay", "0.9")], "--decay needs --eta"), ([("eta", "0.1"), ("cyclical", "1e-4,0.1")], "--eta and --cyclical are exclusive"),
      ([("cycles", "2")], "--cycles needs --cyclical ETA_MIN,ETA_MAX,N_S"),
      ([("cycles", "2"), ("eta", "0.1")], "--cycles needs a cyclical schedule"),
      ([("cyclical", "1e-4,0.1,10"), ("cycles", "2"), ("epochs", "3")], "--epochs and --cycles are exclusive"),
    ] as [([(name: String, value: String)], String)] {
      #expect(errorText(options).hasPrefix(message), "\(options)")
    }
  }

  func errorText(_ options: [(name: String, value: String)]) -> String {
    do { _ = try TrainingConfiguration(options: options) } catch { return "\(error)" }
    return "accepted"
  }

  /// A `config.json` as dptrain wrote it before the readable form (from a real run directory).
  static let legacyJSON = """
    {"architecture":{"batchNorm":true,"batchNormEpsilon":1.0000000000000001e-05,"classes":10,"hidden":[30],"inputSize":784,"loss":"cross-entropy"},
     "batchNorm":true,"batchSize":100,"blasThreads":1,"bnAlpha":0.9,"bnSync":"global","checkEvery":null,"checkpointEachEpoch":true,
     "data":{"fashionMNIST":{}},"epochs":2,"evalEvery":10,"gemm":"onednn","gemmKernel":{"backend":"onednn","kernel":"avx2","library":"oneDNN 2.6.3"},
     "hidden":[30],"initialization":{"gaussian":{"sigma":0.01}},"lambda":0.0005,"loss":"cross-entropy","momentum":0.9,"precision":"float",
     "ranks":2,"schedule":{"cyclical":{"etaMax":0.1,"etaMin":0.0001,"stepSize":90}},"seed":3,"shardedUpdate":false,"shuffle":true,
     "trainLimit":4000,"validation":{"last":{"_0":1000}},"version":"0.1.0"}
    """

  @Test func anOldConfigJSONIsReadAsTheSameRun() throws {
    let c = try JSONDecoder().decode(TrainingConfiguration.self, from: Data(Self.legacyJSON.utf8))
    #expect(c.architecture.resolved == Architecture(inputSize: 784, hidden: [30], classes: 10, batchNorm: true))
    #expect(c.initialization == .gaussian(sigma: 0.01) && c.data == .fashionMNIST && c.validation == .last(1000) && c.seed == 3)
    #expect(c.schedule == .cyclical(etaMin: 1e-4, etaMax: 0.1, stepSize: 90) && c.epochs == 2 && c.evalEvery == 10)
    #expect(c.update == .replicated && c.checkpointEvery == .epoch && c.checkEvery == nil && c.gemm == .onednn && c.ranks == 2)
    // Written again, it is the readable form, and reads back the same.
    let text = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
    #expect(text.contains("\"init\":\"gaussian:0.01\"") && text.contains("\"data\":\"fashion-mnist\"") && !text.contains("initialization"))
    #expect(try JSONDecoder().decode(TrainingConfiguration.self, from: Data(text.utf8)) == c)
  }

  @Test func aHandWrittenConfigTakesTheDefaultsForWhatItLeavesOut() throws {
    let json = #"{"init": "xavier", "schedule": {"eta": 0.02, "decay": 0.9}, "architecture": {"hidden": [], "loss": "svm"}}"#
    let c = try JSONDecoder().decode(TrainingConfiguration.self, from: Data(json.utf8))
    #expect(c.initialization == .xavier && c.schedule == .decay(eta: 0.02, factor: 0.9) && c.architecture.hidden.isEmpty)
    #expect(c.architecture.loss == .svm && c.batchSize == 100 && c.data == .fashionMNIST)
  }

  @Test(arguments: [#"{"checkpointEvery": "sometimes"}"#, #"{"checkEvery": "often"}"#, #"{"init": "zeros"}"#, #"{"data": "svhn:/x"}"#])
  func aConfigJSONWithAnUnknownSpellingIsRefused(_ json: String) {
    #expect(throws: DecodingError.self) { try JSONDecoder().decode(TrainingConfiguration.self, from: Data(json.utf8)) }
  }

  /// 40 images of 2x3 pixels in 3 classes, all for training.
  static func fortyImages() throws -> DatasetSplits {
    let images = try ImageSet(
      pixels: [UInt8](repeating: 7, count: 40 * 6), labels: (0..<40).map { Int32($0 % 3) },
      shape: ImageShape(height: 2, width: 3, channels: 1, layout: .grayscale), classes: 3)
    return DatasetSplits(
      train: images, validation: .empty(shape: images.shape), test: .empty(shape: images.shape),
      normalization: FeatureNormalization(computingOver: images), source: .idx(directory: "x"), sourceDescription: "40 images")
  }

  @Test func resolvingFillsTheNetworkScheduleAndLengthAndRefusesDataOfAnotherShape() throws {
    let data = try Self.fortyImages()
    var c = try TrainingConfiguration(options: [("batch-size", "10"), ("epochs", "3")])
    let r = try c.resolved(for: data)
    #expect(r.architecture.resolved == Architecture(inputSize: 6, hidden: [50], classes: 3))
    // 4 batches per epoch, 3 epochs, 2 cycles: n_s = 3.
    #expect(r.schedule == .cyclical(etaMin: 1e-4, etaMax: 0.1, stepSize: 3) && r.epochs == 3)
    #expect(try r.resolved(for: data) == r)
    c.architecture.inputSize = 784
    #expect(throws: ConfigurationError.self) { try c.resolved(for: data) }
    c.architecture.inputSize = nil
    c.batchSize = 41
    #expect { try c.resolved(for: data) } throws: { "\($0)" == "--batch-size 41 exceeds the 40 training samples" }
  }

  /// The limits that need the data's shape: the parameters (the run's length in steps cannot
  /// exceed its limit with epochs and batches within theirs).
  @Test func resolvingRefusesANetworkOrRunTooLargeForTheLimits() throws {
    let data = try Self.fortyImages()
    let tooMany = try TrainingConfiguration(options: [("hidden", "65536,65536"), ("batch-size", "10")])
    #expect { try tooMany.resolved(for: data) } throws: {
      "\($0)".hasPrefix("--hidden: the network 6-65536-65536-3 has 4295688195 parameters, above the maximum 1073741824")
    }
    let long = try TrainingConfiguration(options: [("epochs", "1000000"), ("batch-size", "1")])
    #expect(throws: Never.self) { try long.resolved(for: data) }
  }
}
