"""Write a 12-lead ECG (float mV, leads I, II, III, aVR, aVL, aVF, V1–V6) in real file formats:
WFDB (wfdb.wrsamp), HL7 aECG XML, DICOM 12-lead ECG waveform (pydicom), GE MUSE XML,
UK Biobank CardioSoft XML and CSV. Each writer mirrors the structure of a real example file
(tests/records) so that readers written for real files read these too.
"""
from __future__ import annotations

import base64
import datetime as dt
import uuid
import zlib
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from . import GENERATOR_VERSION, LEAD_NAMES

MDC_CODES = {"I": "MDC_ECG_LEAD_I", "II": "MDC_ECG_LEAD_II", "III": "MDC_ECG_LEAD_III",
             "aVR": "MDC_ECG_LEAD_AVR", "aVL": "MDC_ECG_LEAD_AVL", "aVF": "MDC_ECG_LEAD_AVF",
             **{f"V{k}": f"MDC_ECG_LEAD_V{k}" for k in range(1, 7)}}
SCPECG_CODES = {"I": 1, "II": 2, "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8,
                "III": 61, "aVR": 62, "aVL": 63, "aVF": 64}
ACQUIRED = dt.datetime(2026, 1, 15, 9, 30, 0)   # fixed so regeneration is byte-identical


def _counts(ecg_mv: np.ndarray, uv_per_count: float) -> np.ndarray:
    return np.clip(np.round(ecg_mv * 1000.0 / uv_per_count), -32768, 32767).astype(np.int16)


def write_wfdb(path_stem: Path, ecg_mv: np.ndarray, fs: int, comments: list[str]) -> list[Path]:
    """WFDB record (format 16, 1000 adu/mV) through wfdb.wrsamp."""
    import wfdb
    path_stem = Path(path_stem)
    wfdb.wrsamp(path_stem.name, fs=fs, units=["mV"] * 12, sig_name=list(LEAD_NAMES),
                p_signal=ecg_mv.T.astype(np.float64), fmt=["16"] * 12, adc_gain=[1000.0] * 12,
                baseline=[0] * 12, comments=comments, write_dir=str(path_stem.parent))
    return [path_stem.with_suffix(".hea"), path_stem.with_suffix(".dat")]


def write_csv(path: Path, ecg_mv: np.ndarray, fs: int, comments: list[str]) -> Path:
    lines = [f"# sampling_rate={fs}", "# units=mV", *[f"# {c}" for c in comments],
             ",".join(LEAD_NAMES)]
    for row in ecg_mv.T:
        lines.append(",".join(f"{v:.4f}" for v in row))
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def write_aecg(path: Path, ecg_mv: np.ndarray, fs: int, subject: dict, median_mv=None,
               scale_uv: float = 2.5) -> Path:
    """HL7 v3 annotated ECG (FDA aECG), same element structure as the HL7 2003 example."""
    t0 = ACQUIRED.strftime("%Y%m%d%H%M%S")
    t1 = (ACQUIRED + dt.timedelta(seconds=ecg_mv.shape[1] / fs)).strftime("%Y%m%d%H%M%S")
    sid = escape(subject["subject_id"])
    sex = "M" if subject["sex"] == "M" else "F"

    def sequences(x, head):
        out = [f"""                    <component>
                        <sequence>
                            <code code="{head}" codeSystem="2.16.840.1.113883.5.4" codeSystemName="ActCode"/>
                            <value xsi:type="GLIST_TS">
                                <head value="{t0}.000"/>
                                <increment value="{1.0 / fs:g}" unit="s"/>
                            </value>
                        </sequence>
                    </component>"""]
        counts = _counts(x, scale_uv)
        for k, name in enumerate(LEAD_NAMES):
            digits = " ".join(str(int(v)) for v in counts[k])
            out.append(f"""                    <component>
                        <sequence>
                            <code code="{MDC_CODES[name]}" codeSystem="2.16.840.1.113883.6.24" codeSystemName="MDC"/>
                            <value xsi:type="SLIST_PQ">
                                <origin value="0" unit="uV"/>
                                <scale value="{scale_uv:g}" unit="uV"/>
                                <digits>{digits}</digits>
                            </value>
                        </sequence>
                    </component>""")
        return "\n".join(out)

    derived = ""
    if median_mv is not None:
        derived = f"""
            <derivation>
                <derivedSeries>
                    <id root="{uuid.uuid5(uuid.NAMESPACE_URL, sid + '/median')}"/>
                    <code code="REPRESENTATIVE_BEAT" codeSystem="2.16.840.1.113883.5.4" codeSystemName="ActCode"/>
                    <component>
                        <sequenceSet>
{sequences(median_mv, "TIME_RELATIVE")}
                        </sequenceSet>
                    </component>
                </derivedSeries>
            </derivation>"""
    xml = f"""<?xml version="1.0" encoding="utf-8"?>
<!-- SYNTHETIC ECG from the ecg2cmr synthetic cohort ({GENERATOR_VERSION}); not a real patient -->
<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:voc="urn:hl7-org:v3/voc" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" type="Observation">
    <id root="{uuid.uuid5(uuid.NAMESPACE_URL, sid)}"/>
    <code code="93000" codeSystem="2.16.840.1.113883.6.12" codeSystemName="CPT-4"/>
    <effectiveTime>
        <center value="{t0}"/>
    </effectiveTime>
    <componentOf>
        <timepointEvent>
            <code code="VISIT_1" codeSystem="2.16.840.1.113883.3.2" displayName="Synthetic visit"/>
            <componentOf>
                <subjectAssignment>
                    <subject>
                        <trialSubject>
                            <id root="2.16.840.1.113883.3.400" extension="{sid}"/>
                            <subjectDemographicPerson>
                                <name>SYNTHETIC</name>
                                <administrativeGenderCode code="{sex}" codeSystem="2.16.840.1.113883.5.1"/>
                            </subjectDemographicPerson>
                        </trialSubject>
                    </subject>
                    <componentOf>
                        <clinicalTrial>
                            <id root="2.16.840.1.113883.3.400" extension="ECG2CMR-SYNTHETIC"/>
                            <title>ecg2cmr synthetic cohort (demonstration data)</title>
                        </clinicalTrial>
                    </componentOf>
                </subjectAssignment>
            </componentOf>
        </timepointEvent>
    </componentOf>
    <controlVariable>
        <relatedObservation>
            <code code="21612-7" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC" displayName="Reported Age"/>
            <value xsi:type="PQ" value="{int(subject['age'])}" unit="a"/>
        </relatedObservation>
    </controlVariable>
    <component>
        <series>
            <id root="{uuid.uuid5(uuid.NAMESPACE_URL, sid + '/rhythm')}"/>
            <code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4" codeSystemName="ActCode" displayName="Rhythm Waveforms"/>
            <effectiveTime>
                <low value="{t0}" inclusive="true"/>
                <high value="{t1}" inclusive="false"/>
            </effectiveTime>
            <author>
                <seriesAuthor>
                    <manufacturedSeriesDevice>
                        <id extension="0"/>
                        <manufacturerModelName>ecg2cmr synthetic cohort</manufacturerModelName>
                        <softwareName>{GENERATOR_VERSION}</softwareName>
                    </manufacturedSeriesDevice>
                    <manufacturerOrganization>
                        <name>ecg2cmr (synthetic)</name>
                    </manufacturerOrganization>
                </seriesAuthor>
            </author>
            <component>
                <sequenceSet>
{sequences(ecg_mv, "TIME_ABSOLUTE")}
                </sequenceSet>
            </component>{derived}
        </series>
    </component>
</AnnotatedECG>
"""
    Path(path).write_text(xml, encoding="utf-8")
    return Path(path)


def write_dicom(path: Path, ecg_mv: np.ndarray, fs: int, subject: dict, median_mv=None,
                sensitivity_uv: float = 2.5) -> Path:
    """DICOM 12-Lead ECG Waveform Storage, explicit VR little endian, rhythm (+ median) groups."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = "1.2.840.10008.5.1.4.1.1.9.1.1"  # 12-lead ECG Waveform Storage
    sid = subject["subject_id"]
    inst = generate_uid(entropy_srcs=[sid, "instance"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = inst
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = generate_uid(entropy_srcs=["ecg2cmr", "cohort"])
    meta.ImplementationVersionName = "ECG2CMR_COHORT"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = inst
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[sid, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[sid, "series"])
    ds.Modality = "ECG"
    ds.Manufacturer = "ecg2cmr synthetic cohort"
    ds.ManufacturerModelName = GENERATOR_VERSION
    ds.StudyDate = ds.ContentDate = ACQUIRED.strftime("%Y%m%d")
    ds.StudyTime = ds.ContentTime = ACQUIRED.strftime("%H%M%S")
    ds.AcquisitionDateTime = ACQUIRED.strftime("%Y%m%d%H%M%S")
    ds.PatientName = "SYNTHETIC^" + sid
    ds.PatientID = sid
    ds.PatientSex = "M" if subject["sex"] == "M" else "F"
    ds.PatientAge = f"{int(subject['age']):03d}Y"
    ds.PatientSize = f"{float(subject['height_cm']) / 100.0:.2f}"
    ds.PatientWeight = f"{float(subject['weight_kg']):.1f}"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.ImageComments = "SYNTHETIC ECG (ecg2cmr synthetic cohort); not a real patient"

    def group(x, label):
        g = Dataset()
        g.MultiplexGroupTimeOffset = "0"
        g.TriggerTimeOffset = "0"
        g.WaveformOriginality = "ORIGINAL" if label == "RHYTHM" else "DERIVED"
        g.NumberOfWaveformChannels = 12
        g.NumberOfWaveformSamples = int(x.shape[1])
        g.SamplingFrequency = str(fs)
        g.MultiplexGroupLabel = label
        chans = []
        for name in LEAD_NAMES:
            c = Dataset()
            src = Dataset()
            src.CodeValue = f"5.6.3-9-{SCPECG_CODES[name]}"
            src.CodingSchemeDesignator = "SCPECG"
            src.CodingSchemeVersion = "1.3"
            src.CodeMeaning = f"Lead {name}"
            c.ChannelSourceSequence = Sequence([src])
            c.ChannelSensitivity = f"{sensitivity_uv:g}"
            unit = Dataset()
            unit.CodeValue = "uV"
            unit.CodingSchemeDesignator = "UCUM"
            unit.CodingSchemeVersion = "1.4"
            unit.CodeMeaning = "microvolt"
            c.ChannelSensitivityUnitsSequence = Sequence([unit])
            c.ChannelSensitivityCorrectionFactor = "1"
            c.ChannelBaseline = "0"
            c.ChannelSampleSkew = "0"
            c.WaveformBitsStored = 16
            chans.append(c)
        g.ChannelDefinitionSequence = Sequence(chans)
        g.WaveformBitsAllocated = 16
        g.WaveformSampleInterpretation = "SS"
        g.WaveformData = _counts(x, sensitivity_uv).T.astype("<i2").tobytes()  # interleaved
        return g

    groups = [group(ecg_mv, "RHYTHM")]
    if median_mv is not None:
        groups.append(group(median_mv, "MEDIAN BEAT"))
    ds.WaveformSequence = Sequence(groups)
    ds.save_as(str(path), enforce_file_format=True)
    return Path(path)


MUSE_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def _muse_lead_data(x_mv, uv_per_bit=4.88):
    blocks = []
    for name in MUSE_LEADS:
        raw = _counts(x_mv[LEAD_NAMES.index(name)], uv_per_bit).astype("<i2").tobytes()
        b64 = base64.b64encode(raw).decode("ascii")
        wrapped = "\n".join(b64[i:i + 68] for i in range(0, len(b64), 68))
        blocks.append(f"""      <LeadData>
         <LeadByteCountTotal>{len(raw)}</LeadByteCountTotal>
         <LeadTimeOffset>0</LeadTimeOffset>
         <LeadSampleCountTotal>{len(raw) // 2}</LeadSampleCountTotal>
         <LeadAmplitudeUnitsPerBit>{uv_per_bit:g}</LeadAmplitudeUnitsPerBit>
         <LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits>
         <LeadHighLimit>32767</LeadHighLimit>
         <LeadLowLimit>-32768</LeadLowLimit>
         <LeadID>{name}</LeadID>
         <LeadOffsetFirstSample>0</LeadOffsetFirstSample>
         <FirstSampleBaseline>0</FirstSampleBaseline>
         <LeadSampleSize>2</LeadSampleSize>
         <LeadOff>FALSE</LeadOff>
         <BaselineSway>FALSE</BaselineSway>
         <LeadDataCRC32>{zlib.crc32(raw)}</LeadDataCRC32>
         <WaveFormData>
{wrapped}
         </WaveFormData>
      </LeadData>""")
    return "\n".join(blocks)


def write_muse(path: Path, ecg_mv: np.ndarray, fs: int, subject: dict, measurements: dict,
               median_mv=None, statements=()) -> Path:
    """GE MUSE resting ECG XML: 8 stored leads (I, II, V1–V6), base64 int16, 4.88 µV per bit."""
    m = measurements
    meas = f"""      <VentricularRate>{m['rate']}</VentricularRate>
      <AtrialRate>{m['atrial_rate']}</AtrialRate>
      <PRInterval>{m['pr']}</PRInterval>
      <QRSDuration>{m['qrs']}</QRSDuration>
      <QTInterval>{m['qt']}</QTInterval>
      <QTCorrected>{m['qtc']}</QTCorrected>
      <PAxis>{m['p_axis']}</PAxis>
      <RAxis>{m['r_axis']}</RAxis>
      <TAxis>{m['t_axis']}</TAxis>
      <QRSCount>{m['qrs_count']}</QRSCount>
      <ECGSampleBase>{fs}</ECGSampleBase>
      <ECGSampleExponent>0</ECGSampleExponent>"""
    stmts = "\n".join(f"""      <DiagnosisStatement>
         <StmtFlag>ENDSLINE</StmtFlag>
         <StmtText>{escape(t)}</StmtText>
      </DiagnosisStatement>""" for t in statements)

    def waveform(kind, x):
        return f"""   <Waveform>
      <WaveformType>{kind}</WaveformType>
      <WaveformStartTime>0</WaveformStartTime>
      <NumberofLeads>8</NumberofLeads>
      <SampleType>CONTINUOUS_SAMPLES</SampleType>
      <SampleBase>{fs}</SampleBase>
      <SampleExponent>0</SampleExponent>
      <HighPassFilter>5</HighPassFilter>
      <LowPassFilter>150</LowPassFilter>
      <ACFilter>NONE</ACFilter>
{_muse_lead_data(x)}
   </Waveform>"""

    med = waveform("Median", median_mv) + "\n" if median_mv is not None else ""
    xml = f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE RestingECG SYSTEM "restecg.dtd">
<!-- SYNTHETIC ECG from the ecg2cmr synthetic cohort ({GENERATOR_VERSION}); not a real patient -->
<RestingECG>
   <MuseInfo>
      <MuseVersion>9.0.9.18167</MuseVersion>
   </MuseInfo>
   <PatientDemographics>
      <PatientID>{escape(subject['subject_id'])}</PatientID>
      <PatientAge>{int(subject['age'])}</PatientAge>
      <AgeUnits>YEARS</AgeUnits>
      <Gender>{'MALE' if subject['sex'] == 'M' else 'FEMALE'}</Gender>
      <PatientLastName>SYNTHETIC</PatientLastName>
   </PatientDemographics>
   <TestDemographics>
      <DataType>RESTING</DataType>
      <Site>0</Site>
      <SiteName>ecg2cmr synthetic cohort</SiteName>
      <AcquisitionDevice>SYNTHETIC</AcquisitionDevice>
      <Status>UNCONFIRMED</Status>
      <AcquisitionTime>{ACQUIRED.strftime('%H:%M:%S')}</AcquisitionTime>
      <AcquisitionDate>{ACQUIRED.strftime('%m-%d-%Y')}</AcquisitionDate>
      <AcquisitionSoftwareVersion>{GENERATOR_VERSION}</AcquisitionSoftwareVersion>
   </TestDemographics>
   <RestingECGMeasurements>
{meas}
   </RestingECGMeasurements>
   <Diagnosis>
      <Modality>RESTING</Modality>
{stmts}
   </Diagnosis>
{med}{waveform("Rhythm", ecg_mv)}
</RestingECG>
"""
    Path(path).write_text(xml, encoding="latin-1")
    return Path(path)


def write_ukb(path: Path, ecg_mv: np.ndarray, fs: int, subject: dict, measurements: dict,
              median_mv=None, resolution_uv: float = 5.0) -> Path:
    """UK Biobank CardioSoft-style resting ECG XML (CardiologyXML, StripData, comma lists)."""
    m = measurements

    def wave_lines(x, indent):
        counts = _counts(x, resolution_uv)
        return "\n".join(f'{indent}<WaveformData lead="{name}">'
                         + ",".join(str(int(v)) for v in counts[k]) + "</WaveformData>"
                         for k, name in enumerate(LEAD_NAMES))

    median = ""
    if median_mv is not None:
        median = f"""
        <MedianSamples>
            <NumberOfLeads>12</NumberOfLeads>
            <SampleRate units="Hz">{fs}</SampleRate>
            <ChannelSampleCountTotal>{median_mv.shape[1]}</ChannelSampleCountTotal>
            <Resolution units="uVperLsb">{resolution_uv:g}</Resolution>
{wave_lines(median_mv, '            ')}
        </MedianSamples>"""
    xml = f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<!-- SYNTHETIC ECG from the ecg2cmr synthetic cohort ({GENERATOR_VERSION}); not a real patient -->
<CardiologyXML>
    <ObservationType>RestECG</ObservationType>
    <ObservationDateTime>
        <Hour>{ACQUIRED.hour}</Hour>
        <Minute>{ACQUIRED.minute}</Minute>
        <Second>{ACQUIRED.second}</Second>
        <Day>{ACQUIRED.day}</Day>
        <Month>{ACQUIRED.month}</Month>
        <Year>{ACQUIRED.year}</Year>
    </ObservationDateTime>
    <UID>
        <DICOMStudyUID>SYNTHETIC-{escape(subject['subject_id'])}</DICOMStudyUID>
    </UID>
    <ClinicalInfo>
        <DeviceInfo>
            <Desc>ecg2cmr synthetic cohort</Desc>
            <SoftwareVer>{GENERATOR_VERSION}</SoftwareVer>
        </DeviceInfo>
    </ClinicalInfo>
    <PatientInfo>
        <PID>{escape(subject['subject_id'])}</PID>
        <Age units="years">{int(subject['age'])}</Age>
        <Gender>{'Male' if subject['sex'] == 'M' else 'Female'}</Gender>
        <Height units="cm">{int(round(float(subject['height_cm'])))}</Height>
        <Weight units="kg">{int(round(float(subject['weight_kg'])))}</Weight>
    </PatientInfo>
    <FilterSetting>
        <CubicSpline>Yes</CubicSpline>
        <Filter50Hz>No</Filter50Hz>
        <Filter60Hz>No</Filter60Hz>
        <LowPass units="Hz">150</LowPass>
        <HighPass units="Hz">0.04</HighPass>
    </FilterSetting>
    <RestingECGMeasurements>
        <VentricularRate units="BPM">{m['rate']}</VentricularRate>
        <PQInterval units="ms">{m['pr']}</PQInterval>
        <QRSDuration units="ms">{m['qrs']}</QRSDuration>
        <QTInterval units="ms">{m['qt']}</QTInterval>
        <QTCInterval units="ms">{m['qtc']}</QTCInterval>
        <RRInterval units="ms">{m['rr']}</RRInterval>
        <PAxis units="degrees">{m['p_axis']}</PAxis>
        <RAxis units="degrees">{m['r_axis']}</RAxis>
        <TAxis units="degrees">{m['t_axis']}</TAxis>{median}
    </RestingECGMeasurements>
    <StripData>
        <NumberOfLeads>12</NumberOfLeads>
        <SampleRate units="Hz">{fs}</SampleRate>
        <ChannelSampleCountTotal>{ecg_mv.shape[1]}</ChannelSampleCountTotal>
        <Resolution units="uVperLsb">{resolution_uv:g}</Resolution>
{wave_lines(ecg_mv, '        ')}
    </StripData>
</CardiologyXML>
"""
    Path(path).write_text(xml, encoding="latin-1")
    return Path(path)
