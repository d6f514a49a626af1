import ArgumentParser
import Files
import Foundation
import Reporting
import Search

struct Report: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write DIR/report.html for a run or sweep directory.",
    discussion: """
      A run: learning curves, the learning rate, weight pictures, gradient histograms, the gradient check, timing. \
      A sweep: the search's scatter (by stage or rung), parallel coordinates, the top table, the best trials' \
      curves, successive-halving rungs, and which ranks ran which trials. One self-contained file (inline SVG and \
      images, no scripts, no network), readable in any browser and printable. `train` and `sweep` write it at the \
      end unless --no-report.
      """)

  @Argument(help: ArgumentHelp("A run directory (train --out) or a sweep directory (sweep --out).", valueName: "DIR"))
  var directory: String

  @Option(name: .customShort("k"), help: "Sweeps: configurations in the table and in the overlaid curves.")
  var top = 5

  func run() throws {
    let isSweep = FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(SweepStore.fileName))
    let path = isSweep ? try Self.write(sweepDirectory: directory, top: top) : try Self.write(runDirectory: directory)
    print("report: \(path)")
  }

  /// Writes the sweep report; returns its path.
  static func write(sweepDirectory directory: String, top: Int = 5) throws -> String {
    let html = try SweepReport(directory: directory, top: top).html()
    let path = (directory as NSString).appendingPathComponent(ReportFiles.report)
    do { try html.write(toFile: path, atomically: true, encoding: .utf8) } catch {
      throw FileError(.unwritable, path: path, problem: "cannot write the report (\(describeIOError(error, path: path)))")
    }
    return path
  }

  /// Writes the run report; returns its path.
  static func write(runDirectory directory: String) throws -> String {
    let html = try RunReport(directory: directory).html()
    let path = (directory as NSString).appendingPathComponent(ReportFiles.report)
    do { try html.write(toFile: path, atomically: true, encoding: .utf8) } catch {
      throw FileError(.unwritable, path: path, problem: "cannot write the report (\(describeIOError(error, path: path)))")
    }
    return path
  }
}
