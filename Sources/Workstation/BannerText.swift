/// The model banner's wording at every width: the longest form that fits, down to a short fixed
/// form that still says "demo model" — never a form cut mid-word. An out-of-distribution mark, when
/// there is one, comes first and is kept in every form (its own long and short wording).
public enum BannerText {
    static func demoForms(modelID: String?) -> [String] {
        var forms: [String] = []
        if let id = modelID {
            forms.append("SYNTHETIC DEMO MODEL — not for clinical use · scores from \(id), trained on synthetic data")
            forms.append("SYNTHETIC DEMO MODEL — not for clinical use · \(id)")
        }
        forms += ["SYNTHETIC DEMO MODEL — not for clinical use", "SYNTHETIC DEMO MODEL — not clinical", "DEMO MODEL — not clinical", "demo model"]
        return forms
    }

    static func outOfDistributionForms(score: Double) -> [String] {
        [String(format: "⚠ OUT OF DISTRIBUTION (score %.1f): ECG unlike the training data — scores and images unreliable", score),
         String(format: "⚠ OUT OF DISTRIBUTION (%.1f) — unreliable", score), "⚠ OUT OF DISTRIBUTION", "⚠ OOD"]
    }

    /// The longest banner of at most `width` cells (the shortest form when even that does not fit).
    public static func fitted(outOfDistributionScore: Double?, modelID: String?, width: Int) -> String {
        let demo = demoForms(modelID: modelID)
        guard let score = outOfDistributionScore else {
            return demo.first { $0.unicodeScalars.count <= width } ?? demo[demo.count - 1]
        }
        // Both marks always; the demo wording is shortened first, the out-of-distribution one last.
        let ranked = outOfDistributionForms(score: score).flatMap { o in demo.map { o + " · " + $0 } }
        return ranked.first { $0.unicodeScalars.count <= width } ?? ranked[ranked.count - 1]
    }
}
