import ArgumentParser

// SCAFFOLD: replaced by the module owner during this session.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "(in progress)")
    func run() throws { throw ValidationError("'bench' is not built yet") }
}
