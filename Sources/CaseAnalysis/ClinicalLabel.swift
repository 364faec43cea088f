/// Fits a head's label into a column without losing the part that tells rows apart. First the
/// abbreviations cardiologists write anyway (CAD, AF, EDV, "WT seg 12" …), then — only if still too
/// long — the label is shortened from the front ("…segment 12"), never from the end where the
/// segment number or the threshold sits. One home for the short forms: the terminal (cells) and
/// the PDF report and sheets (measured font widths) both fit labels through here.
public enum ClinicalLabel {
    /// Applied in order until the label fits; longer phrases first so "Wall thickness, AHA segment"
    /// becomes "WT seg" rather than "WT, AHA segment".
    static let abbreviations: [(String, String)] = [
        ("Wall thickness, AHA segment", "WT seg"), ("LV mean wall thickness (ED)", "LV mean WT (ED)"),
        ("mean wall thickness", "mean WT"), ("Wall thickness", "WT"),
        ("Coronary artery disease", "CAD"), ("Atrial fibrillation", "AF"), ("Heart failure", "HF"),
        ("Pulmonary hypertension", "PH"), ("Late gadolinium enhancement", "LGE"), ("Wall-motion abnormality", "WMA"),
        ("Dilated cardiomyopathy", "DCM"), ("Hypertrophic cardiomyopathy", "HCM"), ("Restrictive cardiomyopathy", "RCM"),
        ("Cardiomyopathy", "CMP"), ("Pericarditis", "Pericard."),
        ("end-diastolic volume", "EDV"), ("end-systolic volume", "ESV"), ("ejection fraction", "EF"),
        ("stroke volume", "SV"), ("cardiac output", "CO"), ("maximal volume", "Vmax"), ("Native T1", "T1"), (" (ED)", ""),
        ("QTc Fridericia", "QTcF"), ("QTc Bazett", "QTcB"), ("Heart rate", "HR"),
        (" (CMR)", ""), (" ≥ ", "≥"), (" ms", "ms"), (" %", "%"),
    ]

    /// The longest form of `label` (the label itself, then each abbreviation step) that `fits`;
    /// only when no abbreviated form fits, the fully abbreviated form shortened from the front with "…".
    public static func fit(_ label: String, fits: (String) -> Bool) -> String {
        if fits(label) { return label }
        var s = label
        for (long, short) in abbreviations where s.contains(long) {
            s = s.replacingOccurrences(of: long, with: short)
            if fits(s) { return s }
        }
        var scalars = Array(s.unicodeScalars)
        while !scalars.isEmpty {
            scalars.removeFirst()
            let t = "…" + String(String.UnicodeScalarView(scalars))
            if fits(t) { return t }
        }
        return ""
    }

    /// The label and each abbreviated form in turn (longest first; " (CMR)" dropped in the last),
    /// e.g. "Late gadolinium enhancement (CMR)" → "LGE (CMR)" → "LGE". `:head` accepts any of them.
    public static func forms(_ label: String) -> [String] {
        var out = [label], s = label
        for (long, short) in abbreviations where s.contains(long) {
            s = s.replacingOccurrences(of: long, with: short)
            if out.last != s { out.append(s) }
        }
        return out
    }

    /// Fit into `width` terminal cells (one cell per Unicode scalar, as the workstation's grid counts).
    public static func fit(_ label: String, width: Int) -> String {
        guard width > 0 else { return "" }
        return fit(label) { $0.unicodeScalars.count <= width }
    }
}
