import CaseAnalysis

/// `:head NAME` → one of the risk heads. NAME may be the output id ("atrial_fibrillation"),
/// "head.output" ("risk.lge"), the label ("atrial fibrillation"), or a short clinical form of
/// the label ("af", "lge", "wma" — ClinicalLabel's abbreviations, the ones the panels show);
/// case, spaces, hyphens and underscores do not matter.
public enum HeadChoice: Equatable {
    case found(Int)
    case failed(HeadChoiceError)

    public static func resolve(_ name: String, among risks: [RiskScore]) -> HeadChoice {
        let key = normalised(name)
        guard !key.isEmpty else { return .failed(HeadChoiceError(requested: name, choices: choices(risks))) }
        for (i, r) in risks.enumerated() where names(r).contains(key) { return .found(i) }
        return .failed(HeadChoiceError(requested: name, choices: choices(risks)))
    }

    static func names(_ r: RiskScore) -> Set<String> {
        var all: Set<String> = [r.target.output, r.target.description, r.label]
        for form in ClinicalLabel.forms(r.label) {
            all.insert(form)
            all.insert(form.replacingOccurrences(of: " (CMR)", with: ""))   // "late gadolinium enhancement"
        }
        return Set(all.map(normalised))
    }

    /// What the error lists: the shortest form of each head, then its id.
    static func choices(_ risks: [RiskScore]) -> [String] {
        risks.map { r in
            let short = ClinicalLabel.forms(r.label).last ?? r.label
            return short.lowercased() == r.target.output ? short : "\(short.lowercased()) (\(r.target.output))"
        }
    }

    static func normalised(_ s: String) -> String {
        String(s.lowercased().unicodeScalars.filter { !" _-".unicodeScalars.contains($0) })
    }
}

/// A `:head` name that matches no head: what was asked, and every accepted choice.
public struct HeadChoiceError: Error, Equatable, CustomStringConvertible {
    public var requested: String
    public var choices: [String]
    public var description: String {
        "no Grad-CAM head \"\(requested)\"; heads: " + choices.joined(separator: ", ")
    }
}
