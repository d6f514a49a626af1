/// Was this process started by an MPI launcher (mpirun/mpiexec, srun, prterun), and with how
/// many ranks? Decided from the launcher's environment variables BEFORE `MPI_Init`: a plain
/// process must not call `MPI_Init` (Open MPI would then init as a singleton, fork a helper
/// daemon and add `PMIX_*`/`OMPI_*` variables to this process's environment). Pure functions of
/// the given environment, available with or without the `MPI` trait.
///
/// Variables read, first match wins:
/// - Open MPI's mpirun (and Open MPI under srun/PMIx): `OMPI_COMM_WORLD_SIZE`, `_RANK`,
///   `_LOCAL_SIZE`, `_LOCAL_RANK`.
/// - PMIx launchers (prterun, srun --mpi=pmix): `PMIX_RANK`.
/// - PMI-1/PMI-2 (MPICH/Hydra mpiexec, srun --mpi=pmi2): `PMI_RANK`, `PMI_SIZE`;
///   Hydra's `MPI_LOCALNRANKS`, `MPI_LOCALRANKID`.
/// - MVAPICH: `MV2_COMM_WORLD_SIZE`, `_RANK`, `_LOCAL_SIZE`, `_LOCAL_RANK`.
/// Slurm's own `SLURM_*` variables are NOT evidence of an MPI launch (every `srun` task and
/// every batch script has them), so they are only consulted once another variable says "MPI".
public enum MPILaunch {
  static let rankVariables = ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK"]
  static let sizeVariables = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"]
  static let localSizeVariables = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "MV2_COMM_WORLD_LOCAL_SIZE"]
  static let localRankVariables = ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK"]

  /// True when a launcher's rank or size variable is set (to an integer).
  public static func isLaunchedByMPI(environment: [String: String]) -> Bool {
    first(sizeVariables, in: environment) != nil || first(rankVariables, in: environment) != nil
  }

  /// The number of ranks the launcher started, if it says (`nil` when not launched by MPI, or
  /// under a PMIx launcher that exports no size; `MPI_Comm_size` is then the answer).
  public static func worldSize(environment: [String: String]) -> Int? {
    guard isLaunchedByMPI(environment: environment) else { return nil }
    return (first(sizeVariables, in: environment) ?? first(["SLURM_NTASKS", "SLURM_NPROCS"], in: environment))
      .flatMap { $0 >= 1 ? $0 : nil }
  }

  /// This process's rank among `worldSize`, if launched by MPI.
  public static func worldRank(environment: [String: String]) -> Int? {
    guard isLaunchedByMPI(environment: environment) else { return nil }
    return (first(rankVariables, in: environment) ?? first(["SLURM_PROCID"], in: environment))
      .flatMap { $0 >= 0 ? $0 : nil }
  }

  /// Ranks on this node (for choosing BLAS threads per rank: `max(1, cores / localSize)`), if
  /// launched by MPI and the launcher says.
  public static func localSize(environment: [String: String]) -> Int? {
    guard isLaunchedByMPI(environment: environment) else { return nil }
    return first(localSizeVariables, in: environment).flatMap { $0 >= 1 ? $0 : nil }
  }

  /// This process's rank on its node, if launched by MPI and the launcher says.
  public static func localRank(environment: [String: String]) -> Int? {
    guard isLaunchedByMPI(environment: environment) else { return nil }
    return (first(localRankVariables, in: environment) ?? first(["SLURM_LOCALID"], in: environment))
      .flatMap { $0 >= 0 ? $0 : nil }
  }

  private static func first(_ names: [String], in environment: [String: String]) -> Int? {
    for name in names {
      if let raw = environment[name], let value = Int(raw.trimmingWhitespace) { return value }
    }
    return nil
  }
}

extension String {
  fileprivate var trimmingWhitespace: Substring {
    var s = Substring(self)
    while let c = s.first, c == " " || c == "\t" || c == "\n" { s.removeFirst() }
    while let c = s.last, c == " " || c == "\t" || c == "\n" { s.removeLast() }
    return s
  }
}
