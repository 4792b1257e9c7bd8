"""Coded concepts written by the sample generator, each with where it comes from.

Sources:

- SNOMED CT vertebra codes: DICOM PS3.16 CID 7603 "Vertebra" (also CID 7602, 7151, 9514), as
  bundled in pydicom's concept dictionary (``pydicom.sr.codedict.codes.SCT.T12Vertebra`` etc.);
  ``tests/test_samples.py`` checks every code here against that dictionary.
- Sacrum 54735007, Volume 118565006, Finding Site 363698007, Laterality 272741003, Left 7771000,
  Right 24028007, Bilateral 51440002, Fluoroscopy 44491008, Lumbar spine 122496007,
  Has Intent 363703001, Therapeutic Intent 262202000: SNOMED CT via DICOM PS3.16 (same
  dictionary).
- DCM codes: DICOM PS3.16 Annex D; the dose report layout is TID 10001/10002/10003/10004.
- CPT codes (scheme ``C4`` in DICOM, ``CPT4`` as many RIS send it): AMA CPT. 22510/22511/22512
  vertebroplasty (cervicothoracic / lumbosacral / each additional), 22513/22514/22515
  kyphoplasty (thoracic / lumbar / each additional), 0200T/0201T sacroplasty
  (unilateral / bilateral), 64493 lumbar facet joint injection, single level.
"""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    """A coded concept: value, coding scheme designator, meaning."""

    value: str
    scheme: str
    meaning: str


# --- anatomy (SNOMED CT, DICOM CID 7603 "Vertebra") ------------------------------------------
VERTEBRA_CODES: dict[str, Code] = {
    "C1": Code("14806007", "SCT", "C1 vertebra"),
    "C2": Code("39976000", "SCT", "C2 vertebra"),
    "C3": Code("113205007", "SCT", "C3 vertebra"),
    "C4": Code("5329002", "SCT", "C4 vertebra"),
    "C5": Code("36978003", "SCT", "C5 vertebra"),
    "C6": Code("36054005", "SCT", "C6 vertebra"),
    "C7": Code("87391001", "SCT", "C7 vertebra"),
    "T1": Code("64864005", "SCT", "T1 vertebra"),
    "T2": Code("53733008", "SCT", "T2 vertebra"),
    "T3": Code("1626008", "SCT", "T3 vertebra"),
    "T4": Code("73071006", "SCT", "T4 vertebra"),
    "T5": Code("56401006", "SCT", "T5 vertebra"),
    "T6": Code("45296009", "SCT", "T6 vertebra"),
    "T7": Code("62487009", "SCT", "T7 vertebra"),
    "T8": Code("11068009", "SCT", "T8 vertebra"),
    "T9": Code("82687006", "SCT", "T9 vertebra"),
    "T10": Code("7610001", "SCT", "T10 vertebra"),
    "T11": Code("12989004", "SCT", "T11 vertebra"),
    "T12": Code("23215003", "SCT", "T12 vertebra"),
    "L1": Code("66794005", "SCT", "L1 vertebra"),
    "L2": Code("14293000", "SCT", "L2 vertebra"),
    "L3": Code("36470004", "SCT", "L3 vertebra"),
    "L4": Code("11994002", "SCT", "L4 vertebra"),
    "L5": Code("49668003", "SCT", "L5 vertebra"),
}
SACRUM = Code("54735007", "SCT", "Sacrum")
LUMBAR_SPINE = Code("122496007", "SCT", "Lumbar spine")

FINDING_SITE = Code("363698007", "SCT", "Finding Site")
LATERALITY = Code("272741003", "SCT", "Laterality")
LEFT = Code("7771000", "SCT", "Left")
RIGHT = Code("24028007", "SCT", "Right")
BILATERAL = Code("51440002", "SCT", "Bilateral")
SIDE_CODES: dict[str, Code] = {"left": LEFT, "right": RIGHT, "bilateral": BILATERAL}

# --- measurements (TID 1500 / 1501) ----------------------------------------------------------
VOLUME = Code("118565006", "SCT", "Volume")
UNIT_ML = Code("ml", "UCUM", "milliliter")
IMAGING_MEASUREMENT_REPORT = Code("126000", "DCM", "Imaging Measurement Report")
LANGUAGE = Code("121049", "DCM", "Language of Content Item and Descendants")
ENGLISH_US = Code("en-US", "RFC5646", "English as used in the United States")
OBSERVER_TYPE = Code("121005", "DCM", "Observer Type")
PERSON = Code("121006", "DCM", "Person")
DEVICE = Code("121007", "DCM", "Device")
PERSON_OBSERVER_NAME = Code("121008", "DCM", "Person Observer Name")
PROCEDURE_REPORTED = Code("121058", "DCM", "Procedure reported")
IMAGE_LIBRARY = Code("111028", "DCM", "Image Library")
IMAGE_LIBRARY_GROUP = Code("126200", "DCM", "Image Library Group")
IMAGING_MEASUREMENTS = Code("126010", "DCM", "Imaging Measurements")
MEASUREMENT_GROUP = Code("125007", "DCM", "Measurement Group")
TRACKING_IDENTIFIER = Code("112039", "DCM", "Tracking Identifier")
TRACKING_UID = Code("112040", "DCM", "Tracking Unique Identifier")
SOURCE_IMAGE = Code("121324", "DCM", "Source Image")

# --- dose report (TID 10001 ff.) -------------------------------------------------------------
XRAY_DOSE_REPORT = Code("113701", "DCM", "X-Ray Radiation Dose Report")
PROJECTION_XRAY = Code("113704", "DCM", "Projection X-Ray")
HAS_INTENT = Code("363703001", "SCT", "Has Intent")
THERAPEUTIC_INTENT = Code("262202000", "SCT", "Therapeutic Intent")
DEVICE_OBSERVER_UID = Code("121012", "DCM", "Device Observer UID")
DEVICE_OBSERVER_NAME = Code("121013", "DCM", "Device Observer Name")
DEVICE_OBSERVER_MANUFACTURER = Code("121014", "DCM", "Device Observer Manufacturer")
DEVICE_OBSERVER_MODEL = Code("121015", "DCM", "Device Observer Model Name")
DEVICE_OBSERVER_SERIAL = Code("121016", "DCM", "Device Observer Serial Number")
SCOPE_OF_ACCUMULATION = Code("113705", "DCM", "Scope of Accumulation")
STUDY = Code("113014", "DCM", "Study")
STUDY_INSTANCE_UID = Code("110180", "DCM", "Study Instance UID")
ACCUMULATED_XRAY_DOSE = Code("113702", "DCM", "Accumulated X-Ray Dose Data")
ACQUISITION_PLANE = Code("113764", "DCM", "Acquisition Plane")
SINGLE_PLANE = Code("113622", "DCM", "Single Plane")
DAP_TOTAL = Code("113722", "DCM", "Dose Area Product Total")
DOSE_RP_TOTAL = Code("113725", "DCM", "Dose (RP) Total")
FLUORO_DAP_TOTAL = Code("113726", "DCM", "Fluoro Dose Area Product Total")
ACQUISITION_DAP_TOTAL = Code("113727", "DCM", "Acquisition Dose Area Product Total")
FLUORO_DOSE_RP_TOTAL = Code("113728", "DCM", "Fluoro Dose (RP) Total")
ACQUISITION_DOSE_RP_TOTAL = Code("113729", "DCM", "Acquisition Dose (RP) Total")
TOTAL_FLUORO_TIME = Code("113730", "DCM", "Total Fluoro Time")
TOTAL_ACQUISITION_TIME = Code("113855", "DCM", "Total Acquisition Time")
TOTAL_RADIOGRAPHIC_FRAMES = Code("113731", "DCM", "Total Number of Radiographic Frames")
REFERENCE_POINT_DEFINITION = Code("113780", "DCM", "Reference Point Definition")
RP_15CM_FROM_ISOCENTER = Code("113860", "DCM", "15cm from Isocenter toward Source")
IRRADIATION_EVENT = Code("113706", "DCM", "Irradiation Event X-Ray Data")
IRRADIATION_EVENT_UID = Code("113769", "DCM", "Irradiation Event UID")
DATETIME_STARTED = Code("111526", "DCM", "DateTime Started")
IRRADIATION_EVENT_TYPE = Code("113721", "DCM", "Irradiation Event Type")
FLUOROSCOPY = Code("44491008", "SCT", "Fluoroscopy")
STATIONARY_ACQUISITION = Code("113611", "DCM", "Stationary Acquisition")
ACQUISITION_PROTOCOL = Code("125203", "DCM", "Acquisition Protocol")
TARGET_REGION = Code("123014", "DCM", "Target Region")
DAP = Code("122130", "DCM", "Dose Area Product")
DOSE_RP = Code("113738", "DCM", "Dose (RP)")
POSITIONER_PRIMARY_ANGLE = Code("112011", "DCM", "Positioner Primary Angle")
POSITIONER_SECONDARY_ANGLE = Code("112012", "DCM", "Positioner Secondary Angle")
FLUORO_MODE = Code("113732", "DCM", "Fluoro Mode")
PULSED = Code("113631", "DCM", "Pulsed")
PULSE_RATE = Code("113791", "DCM", "Pulse Rate")
NUMBER_OF_PULSES = Code("113768", "DCM", "Number of Pulses")
KVP = Code("113733", "DCM", "KVP")
TUBE_CURRENT = Code("113734", "DCM", "X-Ray Tube Current")
IRRADIATION_DURATION = Code("113742", "DCM", "Irradiation Duration")
SOURCE_OF_DOSE_INFORMATION = Code("113854", "DCM", "Source of Dose Information")
AUTOMATED_DATA_COLLECTION = Code("113856", "DCM", "Automated Data Collection")

UNIT_GY_M2 = Code("Gy.m2", "UCUM", "Gy.m2")
UNIT_GY = Code("Gy", "UCUM", "Gy")
UNIT_S = Code("s", "UCUM", "s")
UNIT_KV = Code("kV", "UCUM", "kV")
UNIT_MA = Code("mA", "UCUM", "mA")
UNIT_DEG = Code("deg", "UCUM", "deg")
UNIT_PULSE_RATE = Code("{pulse}/s", "UCUM", "pulse/s")
UNIT_NONE = Code("1", "UCUM", "no units")

# --- procedures (CPT) ------------------------------------------------------------------------
CPT_MEANINGS: dict[str, str] = {  # Code Meaning is LO: at most 64 characters
    "22510": "Percutaneous vertebroplasty, 1 vertebral body; cervicothoracic",
    "22511": "Percutaneous vertebroplasty, 1 vertebral body; lumbosacral",
    "22512": "Percutaneous vertebroplasty, each additional vertebral body",
    "22513": "Percutaneous vertebral augmentation, 1 vertebral body; thoracic",
    "22514": "Percutaneous vertebral augmentation, 1 vertebral body; lumbar",
    "22515": "Percutaneous vertebral augmentation, each additional body",
    "0200T": "Percutaneous sacral augmentation (sacroplasty), unilateral",
    "0201T": "Percutaneous sacral augmentation (sacroplasty), bilateral",
    "64493": "Paravertebral facet joint injection, lumbar/sacral; single level",
}
