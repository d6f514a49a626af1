/// A configuration a round asks to train (each is run `repeats` times with seeds
/// `seed + r`).
public struct PlannedConfiguration: Codable, Sendable, Equatable {
  /// Position in its round, 0-based.
  public var key: Int
  public var parameters: ParameterSet
  /// Successive halving: the epochs (or cycles) of this rung; nil: the base configuration's.
  public var budget: Int?
  /// Asynchronous successive halving: the key, in the rung below, of the configuration this one
  /// was promoted from; nil otherwise (a synchronous rung's keys are its ranks in the rung below).
  public var promotedFrom: Int?
  public init(key: Int, parameters: ParameterSet, budget: Int? = nil, promotedFrom: Int? = nil) {
    self.key = key
    self.parameters = parameters
    self.budget = budget
    self.promotedFrom = promotedFrom
  }
}

/// A set of configurations that can all train at once. A search is a sequence of rounds;
/// each round is a pure function of the spec and the results of the rounds before it, so an
/// interrupted sweep re-plans exactly the same rounds when it resumes.
public struct Round: Codable, Sendable, Equatable {
  public var index: Int
  /// For tables and reports: "grid", "random", "stage 2 of 3", "rung 1 (3 epochs)".
  public var label: String
  public var configurations: [PlannedConfiguration]
  public init(index: Int, label: String, configurations: [PlannedConfiguration]) {
    self.index = index
    self.label = label
    self.configurations = configurations
  }
}

/// A finished round: for each configuration key, the score (the metric to maximise, mean over
/// repeats), or nil when every repeat diverged or failed (ranked below every score).
public struct RoundOutcome: Sendable, Equatable {
  public var round: Round
  public var scores: [Int: Double?]
  public init(round: Round, scores: [Int: Double?]) {
    self.round = round
    self.scores = scores
  }
}
