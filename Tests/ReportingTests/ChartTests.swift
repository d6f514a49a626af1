import CZlib
import Foundation
import Reporting
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

@Suite("Charts: scales, ticks, thinning")
struct ChartTests {
  @Test("log ticks are the powers of ten of the domain; linear ticks are nice steps")
  func ticks() {
    #expect(Ticks.log(1e-5...1e-1).map { log10($0).rounded() } == [-5, -4, -3, -2, -1])
    #expect(Ticks.log(1e-2...1).count == 7)  // 1, 2, 5 per decade below 3 decades: .01 .02 .05 .1 .2 .5 1
    #expect(Ticks.linear(0...1) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
    #expect(Ticks.linear(0...1650).first == 0 && Ticks.linear(0...1650).last == 1500)
    #expect(Ticks.label(1e-5) == "1e-05" && Ticks.label(0.25) == "0.25" && Ticks.label(1500) == "1500")
    #expect(Ticks.label(10_000) == "10000" && Ticks.label(2e7) == "2e+07")
  }

  @Test("a log scale maps decades evenly; a fitted domain has whole decades")
  func scales() {
    let s = Scale(kind: .log, domain: 1e-4...1e-1, range: 0...300)
    #expect(abs(s(1e-3) - 100) < 1e-9 && abs(s(1e-2) - 200) < 1e-9)
    let fitted = Scale.fitting([3e-5, 0.02], kind: .log, range: 0...1)
    #expect(fitted.domain == 1e-5...0.1)
    let flipped = Scale(kind: .linear, domain: 0...1, range: 10...110, flipped: true)
    #expect(flipped(1) == 10 && flipped(0) == 110)
  }

  @Test("10,000 points are thinned to the limit, keeping the extremes and the order")
  func thinning() {
    let points: [(x: Double, y: Double)] = (0..<10_000).map { i in
      let bump: Double = i == 7777 ? 5 : (i == 123 ? -4 : 0)
      return (Double(i), sin(Double(i) / 300) + bump)
    }
    let thin = Series(name: "s", points: points).thinned(to: 800)
    #expect(thin.points.count <= 800 && thin.points.count >= 400)
    #expect(thin.points.contains { $0.x == 7777 } && thin.points.contains { $0.x == 123 })
    #expect(zip(thin.points, thin.points.dropFirst()).allSatisfy { $0.x < $1.x })
    let few = Series(name: "s", points: Array(points.prefix(100)))
    #expect(few.thinned(to: 800) == few)
  }

  @Test("a chart says what it drew: series and points per series")
  func chartAttributes() throws {
    let training: [(x: Double, y: Double)] = (0..<10_000).map { i -> (x: Double, y: Double) in
      let x = Double(i)
      return (x, 1 / (x + 1))
    }
    let validation: [(x: Double, y: Double)] = (0..<20).map { i -> (x: Double, y: Double) in
      let x = Double(i)
      return (500 * x, 1 / (x + 1))
    }
    var chart = LineChart(
      id: "loss", title: "Loss", xLabel: "step", yLabel: "loss",
      series: [
        Series(name: "training", points: training), Series(name: "validation", points: validation),
      ])
    chart.maxPoints = 600
    let svg = chart.svg()
    #expect(svg.contains("data-series=\"2\""))
    let points = try #require(svg.firstRange(of: "data-points=\"")).upperBound
    let counts = svg[points...].prefix { $0 != "\"" }.split(separator: ",").compactMap { Int($0) }
    #expect(counts.count == 2 && counts[0] <= 600 && counts[1] == 20)
    #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
    // Well-formed XML.
    let parser = XMLParser(data: Data(svg.utf8))
    #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
  }

  @Test("histogram counts every finite value once")
  func histogram() {
    let values = (0..<1000).map { Double($0) / 999 } + [.nan, .infinity]
    let h = Histogram(name: "w", values: values, bins: 10)
    #expect(h.count == 1000 && h.counts.reduce(0, +) == 1000)
    #expect(h.counts == [100, 100, 100, 100, 100, 100, 100, 100, 100, 100])
    #expect(h.edges.first == 0 && h.edges.last == 1)
    let constant = Histogram(name: "c", values: [2, 2, 2], bins: 4)
    #expect(constant.counts.reduce(0, +) == 3 && constant.min == 2 && constant.max == 2)
  }
}

@Suite("Weight pictures")
struct WeightImageTests {
  @Test("a known weight matrix renders to the expected pixel values (contrast-stretched per tile)")
  func grayscale() {
    // Two units of a 2x3 grayscale input: a ramp, and a constant row.
    let w: [Double] = [-1, 0, 1, 2, 3, 4, 7, 7, 7, 7, 7, 7]
    let tiles = WeightImages.tiles(weights: w, rows: 2, height: 2, width: 3, layout: .grayscale, count: 5)
    #expect(tiles.count == 2)
    #expect(tiles[0] == Image(width: 3, height: 2, channels: 1, pixels: [0, 51, 102, 153, 204, 255]))
    #expect(tiles[1].pixels == [128, 128, 128, 128, 128, 128])
  }

  @Test("planar RGB input (CIFAR-10's order) becomes interleaved RGB pixels")
  func planar() {
    // 1x2 image: red plane [0, 10], green [20, 30], blue [40, 50]; stretched over 0...50.
    let w: [Double] = [0, 10, 20, 30, 40, 50]
    let tile = WeightImages.tiles(weights: w, rows: 1, height: 1, width: 2, layout: .planarRGB, count: 1)[0]
    #expect(tile.channels == 3)
    #expect(tile.pixels == [0, 102, 204, 51, 153, 255])
  }

  @Test("PNG: the signature, chunk CRCs and the inflated rows give back the pixels")
  func png() throws {
    let image = Image(width: 3, height: 2, channels: 3, pixels: (0..<18).map { UInt8($0 * 14) })
    let png = PNG.encode(image)
    #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    var i = 8
    var idat: [UInt8] = []
    var types: [String] = []
    while i < png.count {
      let length = Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3])
      let type = String(decoding: png[(i + 4)..<(i + 8)], as: UTF8.self)
      let body = Array(png[(i + 4)..<(i + 8 + length)])
      let stored = png[(i + 8 + length)..<(i + 12 + length)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
      let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
      #expect(crc == stored, "CRC of \(type)")
      types.append(type)
      if type == "IDAT" { idat += png[(i + 8)..<(i + 8 + length)] }
      i += 12 + length
    }
    #expect(types == ["IHDR", "IDAT", "IEND"])
    var rawLength = uLong(2 * (1 + 9))
    var raw = [UInt8](repeating: 0, count: Int(rawLength))
    #expect(uncompress(&raw, &rawLength, idat, uLong(idat.count)) == Z_OK)
    #expect(Array(raw[1..<10]) + Array(raw[11..<20]) == image.pixels)
    #expect(raw[0] == 0 && raw[10] == 0)
  }
}
