/// A dense row-major matrix `[rows, cols]` of `T`, value semantics over one contiguous array.
public struct Matrix<T: Real>: Equatable, Sendable {
  public private(set) var rows: Int
  public private(set) var cols: Int
  public var storage: [T]

  public init(rows: Int, cols: Int, repeating value: T = 0) {
    precondition(rows >= 0 && cols >= 0, "Matrix shape [\(rows), \(cols)] is negative")
    self.rows = rows
    self.cols = cols
    storage = [T](repeating: value, count: rows * cols)
  }

  public init(rows: Int, cols: Int, storage: [T]) {
    precondition(storage.count == rows * cols, "Matrix [\(rows), \(cols)] needs \(rows * cols) values, got \(storage.count)")
    self.rows = rows
    self.cols = cols
    self.storage = storage
  }

  public var count: Int { rows * cols }

  public subscript(row: Int, col: Int) -> T {
    get { storage[row * cols + col] }
    set { storage[row * cols + col] = newValue }
  }

  /// Reshapes to `rows` rows of the same width, reusing the allocation when it is big enough.
  public mutating func resize(rows newRows: Int) {
    if newRows * cols > storage.count {
      storage.append(contentsOf: repeatElement(0, count: newRows * cols - storage.count))
    }
    rows = newRows
  }

  @inline(__always)
  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
    try storage.withUnsafeBufferPointer(body)
  }

  @inline(__always)
  public mutating func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
    try storage.withUnsafeMutableBufferPointer(body)
  }
}
