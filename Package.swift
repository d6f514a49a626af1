// swift-tools-version: 6.1
//
// dptrain: a data-parallel trainer for the DD2424 network family.
// The targets are the layers; a dependency that is not declared cannot happen.
import PackageDescription

let package = Package(
  name: "dptrain",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "dptrain", targets: ["dptrain"])
  ],
  traits: [
    // Open MPI bridge. Disable with `--disable-default-traits` on machines without Open MPI;
    // dptrain then runs as one process only.
    .trait(name: "MPI", description: "Link Open MPI and enable multi-rank training."),
    // oneDNN's SGEMM for float products (`--gemm auto|onednn|openblas`). Without it (or with
    // `--disable-default-traits`), OpenBLAS computes every product.
    .trait(name: "OneDNN", description: "Link oneDNN (libdnnl-dev) for float matrix products."),
    .default(enabledTraits: ["MPI", "OneDNN"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
  ],
  targets: [
    // MARK: - C libraries (pkg-config system libraries)
    .systemLibrary(
      name: "COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(
      name: "CMPI", pkgConfig: "ompi-c",
      providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
    // oneDNN has no pkg-config file: the module map links -ldnnl.
    .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
    .systemLibrary(
      name: "CZlib", pkgConfig: "zlib",
      providers: [.apt(["zlib1g-dev"])]),
    // libdeflate: whole-buffer gzip decompression, about twice zlib's speed on the data sets.
    .systemLibrary(
      name: "CDeflate", pkgConfig: "libdeflate",
      providers: [.apt(["libdeflate-dev"])]),

    // Tiny C helpers for standard output.
    .target(name: "CSupport"),

    // MARK: - Files
    // FileError, the one error for a file dptrain cannot read or write (`path: problem`).
    .target(name: "Files"),

    // MARK: - Numerics
    // Element-wise kernels in C: clang vectorizes them (Swift 6.3 did not), with runtime
    // dispatch to AVX-512/AVX2, and FP contraction off for bit-identical results on every ISA.
    .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
    .target(
      name: "LinearAlgebra",
      dependencies: ["COpenBLAS", "CKernels", .target(name: "CDNNL", condition: .when(traits: ["OneDNN"]))],
      swiftSettings: [.define("ONEDNN", .when(traits: ["OneDNN"]))]),
    .target(name: "NeuralNetwork", dependencies: ["LinearAlgebra", "Files"]),

    // MARK: - Data
    .target(name: "Datasets", dependencies: ["LinearAlgebra", "CZlib", "CDeflate"]),

    // MARK: - Distribution
    // The stall watchdog: a thread that ends a rank which stopped making progress (C: no MPI,
    // no Swift runtime on its path to _exit).
    .target(name: "CWatchdog"),
    .target(name: "Distributed", dependencies: ["LinearAlgebra", "CWatchdog"]),
    .target(
      name: "DistributedMPI",
      dependencies: [
        "Distributed", "CKernels",
        .target(name: "CMPI", condition: .when(traits: ["MPI"])),
      ],
      swiftSettings: [.define("MPI", .when(traits: ["MPI"]))]),

    // MARK: - Training
    .target(
      name: "Training",
      dependencies: [
        "LinearAlgebra", "NeuralNetwork", "Datasets", "Distributed", "Files",
      ]),

    // MARK: - Search
    // Sweep specs (YAML), search spaces and strategies, the SQLite sweep store, the dispatch of
    // trials to worker groups over a Communicator, and the runner that trains them.
    .target(
      name: "Search",
      dependencies: [
        "LinearAlgebra", "Distributed", "Datasets", "Training", "Files",
        .product(name: "Yams", package: "Yams"),
        .product(name: "GRDB", package: "GRDB.swift"),
      ]),

    // MARK: - Reporting
    // Self-contained HTML reports: SVG charts, weight pictures (PNG through zlib), tables.
    .target(name: "Reporting", dependencies: ["Training", "NeuralNetwork", "Search", "Files", "CZlib"]),

    // MARK: - Command line
    .executableTarget(
      name: "dptrain",
      dependencies: [
        "Training", "NeuralNetwork", "Datasets", "Distributed", "DistributedMPI", "Search", "Reporting", "Files",
        "LinearAlgebra", "CSupport",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: [.define("MPI", .when(traits: ["MPI"]))]),

    // MARK: - Tests
    // The MPICommunicator contract, run under mpirun (see Tests/MPIContract/main.swift).
    .executableTarget(
      name: "mpi-contract", dependencies: ["DistributedMPI", "Distributed", "LinearAlgebra"],
      path: "Tests/MPIContract",
      swiftSettings: [.define("MPI", .when(traits: ["MPI"]))]),
    // Shared by the test targets: the NumPy fixtures' reader, approximate comparisons and
    // synthetic image sets.
    .target(name: "TestSupport", dependencies: ["NeuralNetwork", "Datasets", "LinearAlgebra"], path: "Tests/TestSupport"),
    .testTarget(name: "LinearAlgebraTests", dependencies: ["LinearAlgebra", "TestSupport"]),
    .testTarget(
      name: "NeuralNetworkTests", dependencies: ["NeuralNetwork", "Files", "LinearAlgebra", "TestSupport"],
      exclude: ["Fixtures"]),
    .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "LinearAlgebra"]),
    .testTarget(name: "DistributedTests", dependencies: ["Distributed", "LinearAlgebra"]),
    .testTarget(
      name: "SearchTests",
      dependencies: [
        "Search", "Training", "Files", "Datasets", "Distributed", "LinearAlgebra", "TestSupport",
        .product(name: "GRDB", package: "GRDB.swift"),
      ]),
    .testTarget(
      name: "ReportingTests",
      dependencies: [
        "Reporting", "Search", "Training", "NeuralNetwork", "Files", "Datasets", "Distributed", "LinearAlgebra", "CZlib", "TestSupport",
      ]),
    .testTarget(
      name: "TrainingTests",
      dependencies: ["Training", "NeuralNetwork", "Datasets", "Distributed", "LinearAlgebra", "TestSupport"]),
  ],
  swiftLanguageModes: [.v6]
)
