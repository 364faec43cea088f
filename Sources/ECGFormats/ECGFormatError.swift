import Foundation

/// Every reader fails with this one type: which file, what is wrong, and where in the file.
public struct ECGFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case unreadable          // cannot open / permission / not a regular file
        case unknownFormat       // content matches no supported format
        case malformedHeader     // header grammar violated
        case truncated           // file shorter than declared
        case corrupt             // checksum, CRC or encoding mismatch
        case unsupported         // valid file, feature we do not read (multi-segment, compression …)
        case invalidValue        // a field holds an impossible value (negative rate, huge count …)
        case missingData         // required element / companion file absent
    }

    public var kind: Kind
    public var file: String
    public var message: String
    /// Where: a line number, byte offset, element path or lead name, when known.
    public var location: String?

    public init(_ kind: Kind, file: String, _ message: String, at location: String? = nil) {
        self.kind = kind
        self.file = file
        self.message = message
        self.location = location
    }

    /// Printed as is by every front end, so anything taken from the file is made terminal-safe here.
    public var description: String {
        if let location { return TerminalText.sanitize("\(file): \(message) (at \(location))") }
        return TerminalText.sanitize("\(file): \(message)")
    }
}
