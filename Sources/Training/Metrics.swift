/// Loss, cost (`loss + lambda * sum ||W||^2`) and accuracy of the model on one data split.
public struct SplitMetrics: Codable, Sendable, Equatable {
  public var loss: Double
  public var cost: Double
  public var accuracy: Double
  public init(loss: Double, cost: Double, accuracy: Double) {
    self.loss = loss
    self.cost = cost
    self.accuracy = accuracy
  }
}

/// One evaluation point: a row of `metrics.csv`.
public struct MetricsRow: Codable, Sendable, Equatable {
  /// Epochs completed, fractional between epoch ends (`step / steps per epoch`).
  public var epoch: Double
  /// Update steps done.
  public var step: Int
  /// Learning rate of the last update.
  public var eta: Double
  public var train: SplitMetrics
  public var validation: SplitMetrics?

  public init(epoch: Double, step: Int, eta: Double, train: SplitMetrics, validation: SplitMetrics?) {
    self.epoch = epoch
    self.step = step
    self.eta = eta
    self.train = train
    self.validation = validation
  }

  public static let csvHeader = "epoch,step,eta,train_cost,train_loss,train_accuracy,val_cost,val_loss,val_accuracy"

  public var csvLine: String {
    func f(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
    return [
      f(epoch), "\(step)", f(eta), f(train.cost), f(train.loss), f(train.accuracy),
      f(validation?.cost), f(validation?.loss), f(validation?.accuracy),
    ].joined(separator: ",")
  }
}
