import ArgumentParser

// SCAFFOLD: replaced by the module owner during this session.
struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "study", abstract: "(in progress)")
    func run() throws { throw ValidationError("'study' is not built yet") }
}
