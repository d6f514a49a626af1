import Foundation

/// A value computed on a background thread from the moment it is created, so that reading
/// the data set overlaps MPI start-up (`MPI_Init` takes 20-70 ms here; reading Fashion-MNIST
/// about 0.25 s). `value()` waits for it and rethrows its error.
final class Prefetch<Value: Sendable>: @unchecked Sendable {
  private let done = DispatchSemaphore(value: 0)
  private var result: Result<Value, any Error>?

  init(_ work: @escaping @Sendable () throws -> Value) {
    let thread = Thread { [self] in
      result = Result { try work() }
      done.signal()
    }
    thread.start()
  }

  func value() throws -> Value {
    done.wait()
    done.signal()  // later calls return at once
    return try result!.get()
  }
}
