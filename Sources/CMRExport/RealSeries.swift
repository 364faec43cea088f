import ECGFormats
import Foundation
import Imaging

/// Real CMR frames shown beside the generated ones: `<dir>/<case>/sax/*.png` and `<dir>/<case>/lax/*.png`
/// (or PNGs directly in `<dir>/<case>/`, taken as one series), frames in file-name order.
struct RealSeries {
    struct Series { var label: String; var frames: [GreyImage] }
    var directory: String = ""
    var series: [Series] = []
    var files: [ExportManifest.FileEntry] = []

    static func load(directory: String?, caseName: String) throws -> RealSeries {
        guard let directory else { return RealSeries() }
        let base = URL(fileURLWithPath: directory).appendingPathComponent(caseName, isDirectory: true)
        var out = RealSeries(directory: base.path)
        func pngs(in dir: URL) -> [URL] {
            ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
                .filter { $0.pathExtension.lowercased() == "png" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        }
        var groups: [(String, [URL])] = [("SAX", pngs(in: base.appendingPathComponent("sax"))), ("LAX", pngs(in: base.appendingPathComponent("lax")))]
        if groups.allSatisfy({ $0.1.isEmpty }) { groups = [("CMR", pngs(in: base))] }
        for (label, urls) in groups where !urls.isEmpty {
            var frames: [GreyImage] = []
            for u in urls {
                frames.append(try PNGCodec.decodeGrey(contentsOf: u))
                let data = (try? Data(contentsOf: u)) ?? Data()
                out.files.append(.init(path: u.path, sha256: SHA256Hex.of(data), bytes: data.count, kind: "real-\(label.lowercased())"))
            }
            out.series.append(Series(label: label, frames: frames))
        }
        return out
    }
}
