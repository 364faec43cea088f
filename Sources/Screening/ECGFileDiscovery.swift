import ECGFormats
import Foundation

/// One thing found while walking the input paths: either a candidate ECG file, or a path that
/// could not be examined (reported in the results, never silently dropped).
public enum DiscoveredItem: Sendable, Equatable {
    case ecgFile(String)
    case unreadable(path: String, reason: String)
}

/// Recursive discovery of ECG files of every supported format.
///
/// WFDB records are found by their `.hea` header (the `.dat`/`.mat` signal files belong to the
/// header and are not listed on their own). Files with unknown extensions are sniffed from their
/// first bytes, so a DICOM file called `ecg.bin` or an XML export without extension is still found;
/// `.xml` files must show an ECG root element (aECG, MUSE, CardioSoft/UK Biobank); weights, images
/// and documents (`.pth`, `.png`, `.pdf`, …) are never taken. A path given directly is always read.
/// Symlink loops are broken by remembering each directory's (device, inode).
public struct ECGFileDiscovery: Sendable {
    /// Extensions that are ECG files by themselves.
    static let ecgExtensions: Set<String> = ["hea", "xml", "dcm", "csv", "tsv", "aecg", "scp"]
    /// Extensions that belong to another file (WFDB signal files, annotations, our own outputs).
    static let companionExtensions: Set<String> = ["dat", "mat", "atr", "qrs", "png", "json", "jsonl", "npy", "md",
                                                   "txt", "gif", "apng", "db", "sqlite", "sqlite-wal", "sqlite-shm"]
    /// Extensions that are never ECGs (model weights, images, documents, archives): skipped inside
    /// folders without being opened, so a model folder next to the ECGs adds no failures.
    static let nonECGExtensions: Set<String> = ["pth", "pt", "ckpt", "safetensors", "onnx", "npz", "pkl", "pickle", "h5", "hdf5",
                                                "jpg", "jpeg", "tif", "tiff", "bmp", "webp", "svg", "pdf", "mp4", "avi",
                                                "zip", "gz", "tgz", "xz", "bz2", "zst", "tar", "7z", "py", "swift", "sh", "log",
                                                "yaml", "yml", "toml", "html", "htm", "css", "js"]
    /// XML files inside folders are ECGs only when one of these root elements shows in their first bytes.
    static let ecgXMLRoots = ECGFileFormat.xmlRootElements.map { "<" + $0 }
    /// Files bigger than this are reported, not read: the readers' cap for a file read whole.
    public var maximumFileBytes = Int64(ReaderLimits.maxSingleFileBytes)

    public init() {}

    /// Every item under `paths`, or with `shard` only that shard's (see `ScreeningShard` for the key).
    public func discover(_ paths: [String], shard: ScreeningShard? = nil) -> [DiscoveredItem] {
        var state = Walk(shard: shard)
        for path in paths {
            self.walk(path, key: (path as NSString).lastPathComponent, isRoot: true, state: &state)
        }
        return state.items
    }

    private struct FileIdentity: Hashable { let device: UInt64; let inode: UInt64 }

    private struct Walk {
        let shard: ScreeningShard?
        var visited = Set<FileIdentity>()
        var items: [DiscoveredItem] = []
        /// Adds an item only when its key belongs to the shard being discovered.
        mutating func add(_ item: DiscoveredItem, key: String) {
            if shard?.contains(key: key) ?? true { items.append(item) }
        }
    }

    /// `key`: the path relative to its root argument (a root's own key is its last component).
    private func walk(_ path: String, key: String, isRoot: Bool, state: inout Walk) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            // A dangling or looping symlink inside a folder is reported, as is a missing root.
            state.add(.unreadable(path: path, reason: reason), key: key)
            return
        }
        let mode = info.st_mode & S_IFMT
        if mode == S_IFDIR {
            let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            guard state.visited.insert(identity).inserted else { return }  // symlink loop or repeated root
            let entries: [String]
            do {
                entries = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            } catch {
                state.add(.unreadable(path: path, reason: "cannot list directory (\(error.localizedDescription))"), key: key)
                return
            }
            for entry in entries where !entry.hasPrefix(".") {
                walk((path as NSString).appendingPathComponent(entry), key: isRoot ? entry : key + "/" + entry, isRoot: false, state: &state)
            }
            return
        }
        guard mode == S_IFREG else {
            if isRoot { state.add(.unreadable(path: path, reason: "not a regular file"), key: key) }
            return
        }
        let ext = (path as NSString).pathExtension.lowercased()
        if Self.companionExtensions.contains(ext) { return }
        // Another shard's file is not even sniffed.
        if let shard = state.shard, !shard.contains(key: key) { return }
        if Int64(info.st_size) > maximumFileBytes {
            state.add(.unreadable(path: path, reason: "file is \(info.st_size) bytes, larger than the \(maximumFileBytes)-byte limit for an ECG"), key: key)
            return
        }
        if ext == "hea", let reason = signalFilesTooLarge(headerPath: path, headerBytes: Int64(info.st_size)) {
            state.add(.unreadable(path: path, reason: reason), key: key)
            return
        }
        if isRoot {
            state.add(.ecgFile(path), key: key)
            return
        }
        if Self.nonECGExtensions.contains(ext) { return }
        if ext == "xml" || ext == "aecg" {
            // Any program writes XML; only the ECG dialects we read are taken from a folder.
            switch Self.sniff(path) {
            case .some(true): state.add(.ecgFile(path), key: key)
            case .some(false): break
            case .none: state.add(.unreadable(path: path, reason: "cannot open for reading"), key: key)
            }
            return
        }
        if Self.ecgExtensions.contains(ext) {
            state.add(.ecgFile(path), key: key)
            return
        }
        // Unknown extension: look at the content.
        switch Self.sniff(path) {
        case .some(true): state.add(.ecgFile(path), key: key)
        case .some(false): break
        case .none: state.add(.unreadable(path: path, reason: "cannot open for reading"), key: key)
        }
    }

    /// A header's signal files are read by window (`ECGRecordSource`), never whole, so the cap for
    /// them is the reader's per-file limit (`ReaderLimits.maxFileBytes`, their symlink targets'
    /// sizes), not `maximumFileBytes`: a 24-hour 12-lead record (about 1 GB) is screened on a window.
    /// Nil when within the cap or when the header cannot be parsed here (the reader then reports the typed error).
    func signalFilesTooLarge(headerPath: String, headerBytes: Int64) -> String? {
        guard headerBytes <= 1 << 20, let data = FileManager.default.contents(atPath: headerPath),
              let text = String(data: data, encoding: .utf8),
              let header = try? WFDBHeader.parse(text, file: headerPath) else { return nil }
        let headerURL = URL(fileURLWithPath: headerPath)
        let limit = Int64(ReaderLimits.maxFileBytes)
        var seen = Set<String>()
        for spec in header.signals where seen.insert(spec.fileName).inserted {
            guard let url = try? WFDBReader.signalFileURL(spec.fileName, headerURL: headerURL) else { continue }
            var st = stat()
            guard stat(url.path, &st) == 0 else { continue }
            if Int64(st.st_size) > limit {
                return "signal file '\(TerminalText.sanitize(spec.fileName))' is \(st.st_size) bytes, larger than the \(limit)-byte limit for a WFDB signal file"
            }
        }
        return nil
    }

    /// True when the first bytes look like an ECG format we read; nil when unreadable.
    static func sniff(_ path: String) -> Bool? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 4096), !head.isEmpty else { return false }
        if head.count >= 132, head[128] == 0x44, head[129] == 0x49, head[130] == 0x43, head[131] == 0x4D {
            return true  // DICOM preamble + "DICM"
        }
        if SCPECGReader.looksLikeSCP(head) { return true }
        let text = String(decoding: head, as: UTF8.self)
        return ecgXMLRoots.contains { text.contains($0) }
    }
}
