import Foundation
import Search

/// Runs `planner` to the end without training: each configuration's score is `score(c)`.
func runSweep(_ planner: SweepPlanner, score: (PlannedConfiguration) -> Double?) -> [RoundOutcome] {
  var outcomes: [RoundOutcome] = []
  while let round = planner.nextRound(after: outcomes), outcomes.count < 100 {
    outcomes.append(outcome(round, score: score))
  }
  return outcomes
}

/// `round` scored by `score`. (`updateValue` stores a nil score; `scores[k] = nil` would not.)
func outcome(_ round: Round, score: (PlannedConfiguration) -> Double?) -> RoundOutcome {
  var scores: [Int: Double?] = [:]
  for c in round.configurations { scores.updateValue(score(c), forKey: c.key) }
  return RoundOutcome(round: round, scores: scores)
}

/// A parameter's value as a Double (numbers and integers).
func number(_ c: PlannedConfiguration, _ name: String) -> Double {
  c.parameters[name]?.doubleValue ?? .nan
}

/// The bounds of a log or linear range.
func bounds(_ domain: Domain) -> (low: Double, high: Double)? {
  switch domain {
  case .logUniform(let low, let high), .uniform(let low, let high): (low, high)
  case .intUniform(let low, let high): (Double(low), Double(high))
  default: nil
  }
}

func spec(_ parameters: [SearchParameter], _ strategy: Strategy, seed: UInt64 = 1) -> SweepSpec {
  SweepSpec(base: [:], parameters: parameters, strategy: strategy, seed: seed)
}
