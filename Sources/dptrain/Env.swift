import ArgumentParser
import Datasets
import DistributedMPI
import Foundation
import LinearAlgebra
import Training

/// `dptrain env`: what a user pastes into a bug report.
struct Env: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show this machine as dptrain sees it: CPU, GEMM backends and their kernels (self-checked), Open MPI, data sets.")

  @Option(help: ArgumentHelp("text, or json (one object).", valueName: "text|json"))
  var format = "text"

  func validate() throws {
    guard format == "text" || format == "json" else { throw ValidationError("--format: '\(format)' should be text or json") }
  }

  struct Backend: Encodable {
    var name: String
    var builtIn: Bool
    var library: String?
    var kernel: String?
    var precisions: [String]
    var selfCheck: [String: String]
  }

  func run() throws {
    let cpu = CPUInfo.current
    let environment = ProcessInfo.processInfo.environment
    let backends = GEMMBackend.allCases.map { backend -> Backend in
      guard backend.isBuiltIn else {
        return Backend(name: backend.rawValue, builtIn: false, library: nil, kernel: nil, precisions: [], selfCheck: [:])
      }
      let kernel = GEMM.kernel(of: backend)
      var checks: [String: String] = [:]
      let float = GEMM.selfCheck(Float.self, backend: backend)
      checks["float32"] = (float.passed ? "passed: " : "FAILED: ") + float.detail
      if backend == .openblas {
        let double = GEMM.selfCheck(Double.self, backend: backend)
        checks["float64"] = (double.passed ? "passed: " : "FAILED: ") + double.detail
      }
      return Backend(
        name: backend.rawValue, builtIn: true, library: kernel.library, kernel: kernel.kernel,
        precisions: backend == .openblas ? ["float32", "float64"] : ["float32"], selfCheck: checks)
    }
    let auto = (try? GEMM.requestedBackend(.auto, for: Float.self)) ?? .openblas
    let datasets = Self.datasets()
    let variables = ["OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "ONEDNN_MAX_CPU_ISA", OpenBLASStartup.markerVariable]
      .compactMap { name in environment[name].map { (name, $0) } }
    let cores = ProcessInfo.processInfo.activeProcessorCount
    if format == "json" {
      struct Report: Encodable {
        var version: String, build: String, cpu: CPUInfo, cores: Int, vectorISA: String
        var backends: [Backend], autoFloat: String, autoDouble: String
        var openblasCore: String, openblasCoreOrigin: String, openblasConfig: String, openblasRunnableCores: [String]
        var mpi: String?, datasets: [String: String], environment: [String: String]
      }
      let report = Report(
        version: dptrainVersion, build: Self.build, cpu: cpu, cores: cores, vectorISA: cpu.vectorISA, backends: backends,
        autoFloat: auto.rawValue, autoDouble: GEMMBackend.openblas.rawValue, openblasCore: OpenBLAS.coreName,
        openblasCoreOrigin: OpenBLASStartup.coreOrigin, openblasConfig: OpenBLAS.configuration,
        openblasRunnableCores: OpenBLAS.runnableCores(features: cpu.features, isAMD: cpu.isAMD), mpi: MPIBuild.libraryVersion,
        datasets: datasets, environment: Dictionary(uniqueKeysWithValues: variables))
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      encoder.keyEncodingStrategy = .convertToSnakeCase
      print(String(decoding: try encoder.encode(report), as: UTF8.self))
      return
    }
    print("dptrain \(dptrainVersion) (\(Self.build))")
    print("CPU: \(cpu.summary); \(cores) core(s) online")
    print("  features: \(cpu.features.sorted().map(\.rawValue).joined(separator: " "))")
    print("GEMM backends (--gemm auto: float -> \(auto), double -> \(GEMMBackend.openblas)):")
    for b in backends {
      guard b.builtIn else {
        print("  \(b.name): not built in (package trait OneDNN off, or libdnnl-dev missing when built)")
        continue
      }
      print(
        "  \(b.name): \(b.library!), \(b.kernel!) \(b.name == "onednn" ? "kernels" : "kernel"); \(b.precisions.joined(separator: " and "))")
      for (precision, result) in b.selfCheck.sorted(by: { $0.key < $1.key }) { print("    self-check \(precision): \(result)") }
    }
    print(
      "  OpenBLAS core \(OpenBLAS.coreName): \(OpenBLASStartup.coreOrigin); cores this CPU can run: \(OpenBLAS.runnableCores(features: cpu.features, isAMD: cpu.isAMD).joined(separator: ", "))"
    )
    print("  OpenBLAS build: \(OpenBLAS.configuration)")
    print("MPI: \(MPIBuild.libraryVersion ?? "not built in (single-process build)")")
    print("data sets:")
    for (name, place) in datasets.sorted(by: { $0.key < $1.key }) { print("  \(name): \(place)") }
    if !variables.isEmpty {
      print("environment:")
      for (name, value) in variables { print("  \(name)=\(value)") }
    }
  }

  static var build: String {
    [MPIBuild.isAvailable ? "MPI" : "no MPI", GEMMBackend.onednn.isBuiltIn ? "oneDNN" : "no oneDNN"].joined(separator: ", ")
  }

  /// The built-in data set and whether its files are there.
  static func datasets() -> [String: String] {
    let directory = DataSource.defaultFashionMNISTDirectory
    let files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    let found = files.filter { name in
      [name, name + ".gz"].contains { FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent($0)) }
    }
    let state =
      found.count == files.count
      ? "found" : found.isEmpty ? "missing (apt-get install dataset-fashion-mnist)" : "incomplete (\(found.count) of \(files.count) files)"
    return ["fashion-mnist (--data fashion-mnist)": "\(directory): \(state)"]
  }
}
