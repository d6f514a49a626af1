import Foundation

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

  /// The MPI library's own version line, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, ..."
  /// (`MPI_Get_library_version`, which MPI allows before `MPI_Init`); nil without the MPI trait.
  public static var libraryVersion: String? {
    #if MPI
      var buffer = [CChar](repeating: 0, count: 512)
      var length: Int32 = 0
      guard MPI_Get_library_version(&buffer, &length) == MPI_SUCCESS else { return nil }
      return String(decoding: buffer.prefix(Int(max(0, length))).prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        .split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) }
    #else
      return nil
    #endif
  }
}
