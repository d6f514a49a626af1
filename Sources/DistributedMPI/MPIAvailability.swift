#if MPI
  import CMPI
#endif

/// Whether this build links Open MPI (the package trait `MPI`, on by default).
public enum MPIBuild {
  #if MPI
    public static let isAvailable = true
  #else
    public static let isAvailable = false
  #endif
}
