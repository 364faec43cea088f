import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A small element tree built with XMLParser (libxml2 on Linux). Namespaces are stripped from names
/// because ECG vendors are inconsistent about prefixes; depth and element count are capped.
final class XElement {
    let name: String
    let attributes: [String: String]
    var children: [XElement] = []
    var text = ""

    init(name: String, attributes: [String: String]) {
        self.name = name
        self.attributes = attributes
    }

    func child(_ name: String) -> XElement? { children.first { $0.name == name } }
    func all(_ name: String) -> [XElement] { children.filter { $0.name == name } }
    /// Text of a path of child names, trimmed; nil when absent or empty.
    func value(_ path: String...) -> String? {
        var node: XElement? = self
        for p in path { node = node?.child(p) }
        let t = node?.text.trimmedOfWhitespace(andNewlines: true)
        return (t?.isEmpty ?? true) ? nil : t
    }
    /// Depth-first search for descendants with the name.
    func descendants(_ name: String) -> [XElement] {
        var out: [XElement] = []
        var stack = [self]
        while let n = stack.popLast() {
            if n.name == name && n !== self { out.append(n) }
            stack.append(contentsOf: n.children.reversed())
        }
        return out
    }
}

/// The vendor XML readers (MUSE, HL7 aECG, CardioSoft) start alike: the file read whole (size
/// capped), parsed into a tree, and its root element checked before the format's own reading.
/// (`read(url:)` is every single-file reader's; the root element is the format's `xmlRootElement`.)
protocol XMLECGFormat: SingleFileECGReader {
    /// The record from a parsed tree whose root is the format's; `provenance` names the bytes read.
    func record(root: XElement, path: String, provenance: Provenance) throws -> ECGRecord
}

extension XMLECGFormat {
    func readXML(data: Data, path: String) throws -> ECGRecord {
        let root = try XTreeBuilder.parse(data, file: path)
        let expected = Self.format.xmlRootElement ?? ""
        guard root.name == expected else {
            throw ECGFormatError(.unknownFormat, file: path, "root element is <\(root.name)>, not <\(expected)>")
        }
        return try record(root: root, path: path, provenance: Provenance(format: Self.format, path: path, sha256: sha256Hex([data])))
    }
}

final class XTreeBuilder: NSObject, XMLParserDelegate {
    static let maxDepth = 64
    static let maxElements = 2_000_000
    var stack: [XElement] = []
    var root: XElement?
    var elementCount = 0
    var limitError: String?
    var parser: XMLParser?

    /// FoundationXML traps (rather than reporting an error) on element or attribute names that are not
    /// valid UTF-8 after libxml2's decoding, so the text is decoded here first: Latin-1 when declared,
    /// otherwise strict UTF-8; it reaches XMLParser as UTF-8 with the declaration saying so.
    static func normalisedUTF8(_ data: Data, file: String) throws -> Data {
        let head = String(decoding: data.prefix(200), as: UTF8.self).lowercased()
        var declaration = ""
        if head.hasPrefix("<?xml"), head.dropFirst(5).first?.isWhitespace == true, let end = head.range(of: "?>") { declaration = String(head[..<end.lowerBound]) }
        let latin1 = ["iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "us-ascii"].contains { declaration.contains("\"\($0)\"") || declaration.contains("'\($0)'") }
        let text: String
        if latin1 {
            guard let t = String(data: data, encoding: .isoLatin1) else {
                throw ECGFormatError(.malformedHeader, file: file, "XML declared as Latin-1 cannot be decoded")
            }
            text = t
        } else if declaration.contains("encoding"), !declaration.contains("utf-8"), !declaration.contains("utf8") {
            throw ECGFormatError(.unsupported, file: file, "XML encoding in '\(declaration.prefix(80))?>' (read: UTF-8, ISO-8859-1)", at: "line 1")
        } else {
            text = try decodeUTF8(data, file: file, what: "XML document")
        }
        if text.unicodeScalars.contains(where: { $0.value == 0 }) {
            throw ECGFormatError(.malformedHeader, file: file, "XML contains a NUL character")
        }
        // Processing instructions after the declaration are dropped: ECG formats do not use them, and
        // FoundationXML crashes on one without data (`<?name?>`). Each is replaced by a space, not
        // removed: removing `<?a?>` from `<<?a?>?b?>` would join its neighbours into a new `<?b?>`
        // (a fuzzer found that one).
        var body = Substring(text)
        var prolog = ""
        if body.hasPrefix("<?xml"), body.dropFirst(5).first?.isWhitespace == true, let end = body.range(of: "?>") {
            guard !body[..<end.lowerBound].dropFirst(2).contains(where: { $0 == "<" || $0 == ">" || $0 == "?" }) else {
                throw ECGFormatError(.malformedHeader, file: file, "XML declaration is malformed", at: "line 1")
            }
            prolog = latin1 ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" : String(body[..<end.upperBound])
            body = body[end.upperBound...]
        }
        var out = prolog
        while let open = body.range(of: "<?") {
            out += body[..<open.lowerBound]
            guard let close = body[open.upperBound...].range(of: "?>") else {
                throw ECGFormatError(.malformedHeader, file: file, "processing instruction '<?' is never closed")
            }
            body = body[close.upperBound...]
            out += " "
        }
        out += body
        let bytes = Data(out.utf8)
        try checkAttributeCounts(bytes, file: file)
        return bytes
    }

    /// Attributes one element may carry (ECG formats use a handful). libxml2 and XMLParser handle an
    /// element's attributes in quadratic time: one element with 1 M attributes took over 60 s.
    static let maxAttributesPerElement = 256

    /// One pass over the bytes: counts `name=` pairs inside each tag (quotes respected) and refuses
    /// an element with more than `maxAttributesPerElement`, before XMLParser sees the document.
    static func checkAttributeCounts(_ data: Data, file: String) throws {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var inTag = false, quote: UInt8 = 0, count = 0, line = 1
            for b in raw {
                if b == 0x0A { line += 1 }
                if quote != 0 { if b == quote { quote = 0 }; continue }
                if !inTag { if b == UInt8(ascii: "<") { inTag = true; count = 0 }; continue }
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "'"): quote = b
                case UInt8(ascii: ">"): inTag = false
                case UInt8(ascii: "="):
                    count += 1
                    if count > maxAttributesPerElement {
                        throw ECGFormatError(.invalidValue, file: file, "an XML element has more than \(maxAttributesPerElement) attributes", at: "line \(line)")
                    }
                default: break
                }
            }
        }
    }

    static func parse(_ data: Data, file: String) throws -> XElement {
        let builder = XTreeBuilder()
        let parser = XMLParser(data: try normalisedUTF8(data, file: file))
        parser.shouldProcessNamespaces = false
        parser.shouldResolveExternalEntities = false
        parser.delegate = builder
        builder.parser = parser
        let ok = parser.parse()
        if let limit = builder.limitError {
            throw ECGFormatError(.invalidValue, file: file, limit, at: "line \(parser.lineNumber)")
        }
        if ok, let open = builder.stack.last {
            throw ECGFormatError(.truncated, file: file, "XML ends before <\(open.name)> is closed (file truncated?)", at: "line \(parser.lineNumber)")
        }
        guard ok, let root = builder.root else {
            let reason = parser.parserError.map { "\($0.localizedDescription)" } ?? "no root element"
            throw ECGFormatError(.malformedHeader, file: file, "XML is not well formed: \(reason)", at: "line \(parser.lineNumber), column \(parser.columnNumber)")
        }
        return root
    }

    static func localName(_ qName: String) -> String {
        if let colon = qName.lastIndex(of: ":") { return String(qName[qName.index(after: colon)...]) }
        return qName
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        elementCount += 1
        if stack.count >= XTreeBuilder.maxDepth || elementCount > XTreeBuilder.maxElements {
            limitError = stack.count >= XTreeBuilder.maxDepth ? "XML nests deeper than \(XTreeBuilder.maxDepth) levels" : "XML has more than \(XTreeBuilder.maxElements) elements"
            parser.abortParsing()
            return
        }
        var attrs: [String: String] = [:]
        for (k, v) in attributeDict { attrs[XTreeBuilder.localName(k)] = v }
        let e = XElement(name: XTreeBuilder.localName(elementName), attributes: attrs)
        if let parent = stack.last { parent.children.append(e) } else if root == nil { root = e }
        stack.append(e)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        _ = stack.popLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        if let s = String(data: CDATABlock, encoding: .utf8) { stack.last?.text += s }
    }
}

/// The root element name of an XML document, read from its first bytes, for format detection.
func xmlRootName(_ data: Data) -> String? {
    let head = data.prefix(8192)
    guard let text = String(data: head, encoding: .utf8) ?? String(data: head, encoding: .isoLatin1) else { return nil }
    var i = text.startIndex
    while let lt = text[i...].firstIndex(of: "<") {
        let next = text.index(after: lt)
        guard next < text.endIndex else { return nil }
        let c = text[next]
        if c == "?" || c == "!" {
            // Skip declarations, comments and DOCTYPE.
            if text[next...].hasPrefix("!--") {
                guard let end = text[next...].range(of: "-->") else { return nil }
                i = end.upperBound
            } else {
                guard let end = text[next...].firstIndex(of: ">") else { return nil }
                i = text.index(after: end)
            }
            continue
        }
        let name = text[next...].prefix { !($0 == " " || $0 == ">" || $0 == "/" || $0 == "\n" || $0 == "\r" || $0 == "\t") }
        return XTreeBuilder.localName(String(name))
    }
    return nil
}
