import Files
import Foundation
import GRDB

/// The sweep's SQLite database, `SWEEPDIR/sweep.sqlite` (GRDB), kept by rank 0 alone: the spec,
/// every round and trial (configuration, seed, status, result, timings, ranks), and every
/// trial's metrics per evaluation point. Each change is one transaction, so a sweep killed at
/// any moment keeps every trial that finished; `--resume` re-queues the ones that were running.
///
/// Tables: `sweep` (one row), `round`, `trial`, `trial_metric`, `rank_time` (each rank's time in
/// trials, coordination and idle, per session).
public final class SweepStore {
  public static let fileName = "sweep.sqlite"
  public let path: String
  let database: DatabaseQueue

  /// Opens `directory/sweep.sqlite`, creating the directory and the schema when `create`.
  /// Errors name the file.
  public init(directory: String, create: Bool) throws {
    path = (directory as NSString).appendingPathComponent(Self.fileName)
    let exists = FileManager.default.fileExists(atPath: path)
    if !create && !exists {
      throw FileError(.missing, path: path, problem: "no sweep database here; give the SWEEPDIR a sweep wrote (--out)")
    }
    do {
      if create { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
      var configuration = Configuration()
      configuration.busyMode = .timeout(10)
      // Write-ahead log, synced at checkpoints: a commit survives the process being killed at
      // any moment (what --resume needs) without an fsync per trial.
      configuration.prepareDatabase { db in
        try db.execute(sql: "PRAGMA journal_mode = WAL")
        try db.execute(sql: "PRAGMA synchronous = NORMAL")
      }
      database = try DatabaseQueue(path: path, configuration: configuration)
      if create {
        try Self.migrator.migrate(database)
      } else {
        let ready = try database.read { try $0.tableExists("trial") }
        guard ready else { throw FileError(.malformed, path: path, problem: "not a dptrain sweep database (no trial table)") }
        // A sweep started by an earlier dptrain gets the newer columns (reading works without
        // them, so a database this process may not write is left as it is).
        try? Self.migrator.migrate(database)
      }
    } catch let error as FileError {
      throw error
    } catch {
      throw FileError(create ? .unwritable : .unreadable, path: path, problem: "cannot open the sweep database: \(error)")
    }
  }

  static var migrator: DatabaseMigrator {
    var m = DatabaseMigrator()
    m.registerMigration("v1") { db in
      try db.execute(
        sql: """
          CREATE TABLE sweep (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            spec_json TEXT NOT NULL, spec_file TEXT NOT NULL, spec_text TEXT NOT NULL,
            ranks INTEGER NOT NULL, ranks_per_trial INTEGER NOT NULL,
            status TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL, sessions INTEGER NOT NULL);
          CREATE TABLE round (idx INTEGER PRIMARY KEY, label TEXT NOT NULL, plan_json TEXT NOT NULL);
          CREATE TABLE trial (
            id INTEGER PRIMARY KEY, round INTEGER NOT NULL, config_key INTEGER NOT NULL, repeat_index INTEGER NOT NULL,
            seed INTEGER NOT NULL, parameters_json TEXT NOT NULL, budget INTEGER, arguments_json TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'finished', 'diverged', 'failed')),
            last_json TEXT, val_accuracy REAL, val_loss REAL, val_cost REAL, test_accuracy REAL,
            diverged_at_step INTEGER, error TEXT, ranks TEXT, started REAL, finished REAL, train_seconds REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            UNIQUE (round, config_key, repeat_index));
          CREATE TABLE trial_metric (
            trial INTEGER NOT NULL REFERENCES trial(id) ON DELETE CASCADE, step INTEGER NOT NULL, epoch REAL NOT NULL,
            eta REAL NOT NULL, train_cost REAL, train_loss REAL, train_accuracy REAL, val_cost REAL, val_loss REAL, val_accuracy REAL,
            PRIMARY KEY (trial, step));
          """)
    }
    m.registerMigration("v2: the GEMM kernel of each trial") { db in
      try db.execute(sql: "ALTER TABLE trial ADD COLUMN gemm TEXT")
    }
    m.registerMigration("v3: each rank's time per session") { db in
      try db.execute(
        sql: """
          CREATE TABLE rank_time (
            session INTEGER NOT NULL, rank INTEGER NOT NULL, trials REAL NOT NULL, coordination REAL NOT NULL, idle REAL NOT NULL,
            PRIMARY KEY (session, rank))
          """)
    }
    m.registerMigration("v4: each rank's time in its trials' collectives") { db in
      try db.execute(sql: "ALTER TABLE rank_time ADD COLUMN collectives REAL NOT NULL DEFAULT 0")
    }
    return m
  }

  // MARK: - The sweep row

  /// The spec a sweep was started with, and how it was started.
  public struct Header: Sendable {
    public var spec: SweepSpec
    public var specFile: String
    public var specText: String
    public var ranks: Int
    public var ranksPerTrial: Int
    /// "running", "finished" or "interrupted" (a session that ended without finishing).
    public var status: String
    public var created: Double
    public var updated: Double
    /// 1 + the number of resumes.
    public var sessions: Int
  }

  public func writeHeader(spec: SweepSpec, specFile: String, specText: String, ranks: Int, ranksPerTrial: Int) throws {
    let json = try Self.json(spec)
    let now = Date().timeIntervalSince1970
    try write { db in
      try db.execute(
        sql: "INSERT INTO sweep VALUES (1, ?, ?, ?, ?, ?, 'running', ?, ?, 1)",
        arguments: [json, specFile, specText, ranks, ranksPerTrial, now, now])
    }
  }

  public func header() throws -> Header? {
    try read { db in
      guard let row = try Row.fetchOne(db, sql: "SELECT * FROM sweep WHERE id = 1") else { return nil }
      return try Header(
        spec: Self.decode(SweepSpec.self, row.decode(forColumn: "spec_json")), specFile: row.decode(forColumn: "spec_file"),
        specText: row.decode(forColumn: "spec_text"), ranks: row.decode(forColumn: "ranks"),
        ranksPerTrial: row.decode(forColumn: "ranks_per_trial"), status: row.decode(forColumn: "status"),
        created: row.decode(forColumn: "created"), updated: row.decode(forColumn: "updated"), sessions: row.decode(forColumn: "sessions"))
    }
  }

  /// A new session of an interrupted sweep: trials that were running are queued again.
  /// Returns how many.
  @discardableResult
  public func resume(ranks: Int, ranksPerTrial: Int) throws -> Int {
    try write { db in
      try db.execute(
        sql: "UPDATE sweep SET status = 'running', sessions = sessions + 1, ranks = ?, ranks_per_trial = ?, updated = ?",
        arguments: [ranks, ranksPerTrial, Date().timeIntervalSince1970])
      try db.execute(sql: "UPDATE trial SET status = 'queued', ranks = NULL, started = NULL WHERE status = 'running'")
      return db.changesCount
    }
  }

  public func setStatus(_ status: String) throws {
    try write { db in
      try db.execute(sql: "UPDATE sweep SET status = ?, updated = ?", arguments: [status, Date().timeIntervalSince1970])
    }
  }

  // MARK: - Rounds and trials

  public func rounds() throws -> [Round] {
    try read { db in
      try Row.fetchAll(db, sql: "SELECT plan_json FROM round ORDER BY idx").map {
        try Self.decode(Round.self, $0.decode(forColumn: "plan_json"))
      }
    }
  }

  /// Adds a round (or the final run, `round == nil`) and its trials, queued, in one transaction;
  /// a round already stored is replaced (an ASHA rung grown by a promotion).
  public func insert(round: Round?, trials: [TrialRecord]) throws {
    let plan = try round.map { try Self.json($0) }
    let encoded = try trials.map { (try Self.json($0.parameters), try Self.json($0.arguments)) }
    try write { db in
      if let round, let plan {
        try db.execute(
          sql: "INSERT INTO round VALUES (?, ?, ?) ON CONFLICT (idx) DO UPDATE SET label = excluded.label, plan_json = excluded.plan_json",
          arguments: [round.index, round.label, plan])
      }
      for (t, (parameters, arguments)) in zip(trials, encoded) {
        try db.execute(
          sql: """
            INSERT INTO trial (id, round, config_key, repeat_index, seed, parameters_json, budget, arguments_json, status)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued')
            """,
          arguments: [t.id, t.round, t.key, t.repeatIndex, Int64(bitPattern: t.seed), parameters, t.budget, arguments])
      }
    }
  }

  /// Every trial (of one round when given), by id.
  public func trials(round: Int? = nil) throws -> [TrialRecord] {
    try read { db in
      // Columns by position and one JSON decoder for every row: a sweep may hold 100,000 trials,
      // and `sweep-status` and `top` read them all.
      let columns = Self.trialColumns.joined(separator: ", ")
      let rows =
        if let round {
          try Row.fetchAll(db, sql: "SELECT \(columns) FROM trial WHERE round = ? ORDER BY id", arguments: [round])
        } else {
          try Row.fetchAll(db, sql: "SELECT \(columns) FROM trial ORDER BY id")
        }
      let decoder = Self.decoder()
      return try rows.map { try Self.trial($0, decoder: decoder) }
    }
  }

  public func markRunning(id: Int, ranks: [Int]) throws {
    try write { db in
      try db.execute(
        sql: "UPDATE trial SET status = 'running', ranks = ?, started = ?, attempts = attempts + 1 WHERE id = ?",
        arguments: [ranks.map(String.init).joined(separator: ","), Date().timeIntervalSince1970, id])
      try Self.touch(db)
    }
  }

  /// Stores a trial's outcome and its metrics rows, in one transaction.
  public func record(id: Int, report: TrialReport) throws {
    let last = report.metrics.last
    let lastJSON = try last.map { try Self.json($0) }
    try write { db in
      try db.execute(sql: "DELETE FROM trial_metric WHERE trial = ?", arguments: [id])
      for m in report.metrics {
        try db.execute(
          sql: "INSERT INTO trial_metric VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          arguments: [
            id, m.step, m.epoch, m.eta, Self.finite(m.trainCost), Self.finite(m.trainLoss), Self.finite(m.trainAccuracy),
            Self.finite(m.valCost), Self.finite(m.valLoss), Self.finite(m.valAccuracy),
          ])
      }
      try db.execute(
        sql: """
          UPDATE trial SET status = ?, last_json = ?, val_accuracy = ?, val_loss = ?, val_cost = ?, test_accuracy = ?,
            diverged_at_step = ?, error = ?, finished = ?, train_seconds = ?, gemm = ? WHERE id = ?
          """,
        arguments: [
          report.status.rawValue, lastJSON, Self.finite(last?.valAccuracy), Self.finite(last?.valLoss), Self.finite(last?.valCost),
          Self.finite(report.testAccuracy), report.divergedAtStep, report.error, Date().timeIntervalSince1970,
          report.trainSeconds, report.gemm, id,
        ])
      try Self.touch(db)
    }
  }

  /// The sweep row's `updated`: when the sweep last changed (sweep-status shows it, so a sweep
  /// that says "running" but has not changed for long can be recognised as killed).
  static func touch(_ db: Database) throws {
    try db.execute(sql: "UPDATE sweep SET updated = ?", arguments: [Date().timeIntervalSince1970])
  }

  /// The metrics rows of a trial, by step.
  public func metrics(trial id: Int) throws -> [EpochMetrics] {
    try read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM trial_metric WHERE trial = ? ORDER BY step", arguments: [id]).map {
        try EpochMetrics(
          step: $0.decode(forColumn: "step"), epoch: $0.decode(forColumn: "epoch"), eta: $0.decode(forColumn: "eta"),
          trainCost: $0.decode(forColumn: "train_cost") ?? .nan, trainLoss: $0.decode(forColumn: "train_loss") ?? .nan,
          trainAccuracy: $0.decode(forColumn: "train_accuracy") ?? .nan, valCost: $0.decode(forColumn: "val_cost"),
          valLoss: $0.decode(forColumn: "val_loss"), valAccuracy: $0.decode(forColumn: "val_accuracy"))
      }
    }
  }

  // MARK: - Ranks' time

  /// Stores each rank's time (rank 0 first) for the current session.
  public func record(rankTimes: [RankTime]) throws {
    try write { db in
      let session = try Int.fetchOne(db, sql: "SELECT sessions FROM sweep WHERE id = 1") ?? 1
      for (rank, t) in rankTimes.enumerated() {
        try db.execute(
          sql: "INSERT OR REPLACE INTO rank_time (session, rank, trials, coordination, idle, collectives) VALUES (?, ?, ?, ?, ?, ?)",
          arguments: [session, rank, t.trials, t.coordination, t.idle, t.collectives])
      }
    }
  }

  /// Each rank's time over every session that recorded one (rank r at position r); empty for a
  /// sweep no session finished (or one started by a dptrain without the table).
  public func rankTimes() throws -> [RankTime] {
    try read { db in
      guard try db.tableExists("rank_time") else { return [] }
      // A database that this process could not migrate (read-only) has no collectives column.
      let collectives = try db.columns(in: "rank_time").contains { $0.name == "collectives" } ? "sum(collectives)" : "0.0"
      return try Row.fetchAll(
        db, sql: "SELECT rank, sum(trials), sum(coordination), sum(idle), \(collectives) FROM rank_time GROUP BY rank ORDER BY rank"
      ).map {
        try RankTime(
          trials: $0.decode(atIndex: 1), coordination: $0.decode(atIndex: 2), idle: $0.decode(atIndex: 3),
          collectives: $0.decode(atIndex: 4))
      }
    }
  }

  // MARK: - Helpers

  /// The columns `trial(_:decoder:)` reads, in its order.
  static let trialColumns = [
    "id", "round", "config_key", "repeat_index", "seed", "parameters_json", "budget", "arguments_json", "status", "last_json",
    "test_accuracy", "diverged_at_step", "error", "ranks", "started", "finished", "train_seconds", "attempts", "gemm",
  ]

  static func trial(_ row: Row, decoder: JSONDecoder) throws -> TrialRecord {
    var t = try TrialRecord(
      id: row.decode(atIndex: 0), round: row.decode(atIndex: 1), key: row.decode(atIndex: 2), repeatIndex: row.decode(atIndex: 3),
      seed: UInt64(bitPattern: row.decode(Int64.self, atIndex: 4)),
      parameters: decoder.decode(ParameterSet.self, from: Data(row.decode(String.self, atIndex: 5).utf8)), budget: row.decode(atIndex: 6),
      arguments: Self.strings(row.decode(atIndex: 7)))
    t.status = try TrialStatus(rawValue: row.decode(atIndex: 8)) ?? .failed
    if let last: String = try row.decode(atIndex: 9) { t.last = try decoder.decode(EpochMetrics.self, from: Data(last.utf8)) }
    t.testAccuracy = try row.decode(atIndex: 10)
    t.divergedAtStep = try row.decode(atIndex: 11)
    t.error = try row.decode(atIndex: 12)
    t.ranks = try row.decode(atIndex: 13)
    t.startedAt = try row.decode(atIndex: 14)
    t.finishedAt = try row.decode(atIndex: 15)
    t.trainSeconds = try row.decode(atIndex: 16)
    t.attempts = try row.decode(atIndex: 17)
    t.gemm = try row.decode(atIndex: 18)
    return t
  }

  /// A JSON array of strings (a trial's command), without the Codable machinery: the
  /// largest column of a trial row, read for every trial by `sweep-status` and `top`.
  static func strings(_ text: String) throws -> [String] {
    guard let strings = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] else {
      throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "expected a JSON array of strings, got \(text.prefix(80))"))
    }
    return strings
  }

  static func finite(_ x: Double?) -> Double? { x.flatMap { $0.isFinite ? $0 : nil } }

  static func json<V: Encodable>(_ value: V) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try encoder.encode(value), as: UTF8.self)
  }

  static func decode<V: Decodable>(_: V.Type, _ text: String) throws -> V {
    try decoder().decode(V.self, from: Data(text.utf8))
  }

  static func decoder() -> JSONDecoder {
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return decoder
  }

  func write<R>(_ body: (Database) throws -> R) throws -> R {
    do { return try database.write(body) } catch {
      throw FileError(.unwritable, path: path, problem: "cannot write the sweep database: \(error)")
    }
  }

  func read<R>(_ body: (Database) throws -> R) throws -> R {
    do { return try database.read(body) } catch let error as RowDecodingError {
      // A value of the wrong type (a damaged or hand-edited database): named, never a trap.
      throw FileError(.malformed, path: path, problem: "the sweep database holds a value it cannot be: \(Self.brief(error))")
    } catch {
      throw FileError(.unreadable, path: path, problem: "cannot read the sweep database: \(error)")
    }
  }

  /// GRDB's decoding error without the whole row (whose JSON columns can be kilobytes).
  static func brief(_ error: RowDecodingError) -> String {
    let text = "\(error)"
    return text.range(of: ", row: [").map { String(text[..<$0.lowerBound]) } ?? text
  }
}
