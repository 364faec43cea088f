import CaseAnalysis
import Imaging

// The engine's outputs are what the imaging leaf draws: no copies into look-alike types.
extension GradCAMMap: ECGHighlightMap {}
extension CineLoop: CineFrameSequence {}
