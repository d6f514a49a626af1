import ArgumentParser
import Foundation
import Reporting

struct Report: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write DIR/report.html for a run directory: learning curves, learning rate, weight pictures, gradient histograms, gradient check, timing.",
    discussion: "One self-contained file (inline SVG and images, no scripts, no network), readable in any browser and printable. `train` writes it at the end unless --no-report.")

  @Argument(help: ArgumentHelp("A run directory (train --out).", valueName: "DIR"))
  var directory: String

  func run() throws {
    let path = try Self.write(runDirectory: directory)
    print("report: \(path)")
  }

  /// Writes the run report; returns its path.
  static func write(runDirectory directory: String) throws -> String {
    let html = try RunReport(directory: directory).html()
    let path = (directory as NSString).appendingPathComponent(ReportFiles.report)
    do { try html.write(toFile: path, atomically: true, encoding: .utf8) } catch {
      throw CommandError("\(path): cannot write the report (\(error.localizedDescription))")
    }
    return path
  }
}
