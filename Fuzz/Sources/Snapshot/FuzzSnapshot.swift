import Foundation
import Workstation

/// `ecg2cmr view --snapshot WxH --keys …` (no model) on a file of any format: the bytes choose the
/// screen size and a few keys, the rest is the file, written to a private temporary folder and
/// opened the way `view` opens it (content detection, reading, measurements, quality, header line,
/// trace view, panels). Keys that export or quit are never chosen. Only traps, hangs and runaway
/// memory are findings; every refusal is drawn on screen as a message.
///
/// Layout: [0] width, [1] height, [2...3] keys (4 bits each), then the file's bytes.
let keyChoices: [Key] = [.character("j"), .character("z"), .character("+"), .character("-"), .character(">"),
                         .character("<"), .character("f"), .character("}"), .character("{"), .character("L"),
                         .character("o"), .character("c"), .character("r"), .character("?"), .character("J"), .character("n")]

let folder: URL = {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-snapshot-\(getpid())", isDirectory: true)
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSnapshot(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let all = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard all.count > 4 else { return 0 }
    let width = 20 + Int(all[0]) % 221, height = 6 + Int(all[1]) % 75
    let keys = [all[2] & 0x0F, all[2] >> 4, all[3] & 0x0F, all[3] >> 4].map { keyChoices[Int($0)] }
    let file = folder.appendingPathComponent("ecg")
    guard (try? Data(all[4...]).write(to: file)) != nil else { return 0 }
    _ = WorkstationLauncher.snapshot(input: file, cases: nil, modelError: nil, size: GridSize(width: width, height: height),
                                     exportDirectory: folder.appendingPathComponent("exports"), keys: keys)
    return 0
}
