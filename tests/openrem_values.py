"""What OpenREM's RF tests assert on the sample files that ../shared/samples/openrem/ also holds.

Read from OpenREM's test suite (``openrem/remapp/tests/``, GPL-3.0; the public fork
themorlan/openREM at commit d4b1ede3, the same commit EXPECTED.md names). Only the facts are
carried over: file, the test that asserts it, the value and unit OpenREM gives, and the same
value in vp_log's units. The tests that use them are ours (tests/unit/test_openrem_values.py,
tests/system/test_dose_alerts.py).

``where`` is a path into what vp_log reports for that one file (see ``view`` in the test):
``record.<field>`` is the procedure record (``procedures show --json``),
``events[i].<field>`` the i-th irradiation event in document order (``record.events``),
``subtotals.<type>.<field>`` the per-type subtotals added up from the events
(``record.event_subtotals``). OpenREM's detail view shows the report's accumulated totals on
its Fluoroscopy/Acquisition/Total rows and the events' sum on a row per acquisition kind
(``- Stationary Acquisition``); the table maps each row to the same kind of number.

Units: OpenREM stores DAP in Gy·m² and shows cGy·cm² in its detail view; Ka,r in Gy;
vp_log shows DAP in Gy·cm² and Ka,r in mGy.
"""

from __future__ import annotations

from typing import NamedTuple


class OpenremValue(NamedTuple):
    file: str
    test: str
    what: str
    openrem: str  # the value as OpenREM's test writes it, with its unit
    where: str
    expected: object  # in vp_log's unit (float: compared to 6 significant figures)


ZEE = "RF-RDSR-Siemens-Zee.dcm"
ALLURA = "RF-RDSR-Philips_Allura.dcm"
GE = "RF-RDSR-GE.dcm"
MINIVIEW = "RF-RDSR-GE-OECEliteMiniView.dcm"
ULTIMAX = "RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm"

IMPORT = "test_import_rf_rdsr.py"
DETAIL = "test_rf_detail.py::SummaryTotalDoses"
EXPORT = "test_export_rf_xlsx.py"
FILTERS = "test_filters_rf.py::FilterViewTests"
ALERT = "test_rf_high_dose_alert.py::RFHighDoseAlert"

# fmt: off
OPENREM_VALUES: tuple[OpenremValue, ...] = (
    # --- Siemens AXIOM-Artis (Zee) ---------------------------------------------------------
    OpenremValue(ZEE, f"{IMPORT}::ImportRFRDSRSiemens", "event 1 patient table relationship",
                 "F-10470", "events[0].technique.patient_table_relationship.code", "F-10470"),
    OpenremValue(ZEE, f"{IMPORT}::ImportRFRDSRSiemens", "event 1 patient orientation",
                 "F-10450", "events[0].technique.patient_orientation.code", "F-10450"),
    OpenremValue(ZEE, f"{IMPORT}::ImportRFRDSRSiemens", "event 1 orientation modifier",
                 "supine", "events[0].technique.patient_orientation_modifier.meaning", "supine"),
    OpenremValue(ZEE, f"{IMPORT}::ImportRFRDSRSiemens", "event 1 II field size",
                 "220", "events[0].technique.ii_field_size.value", 220.0),
    OpenremValue(ZEE, f"{IMPORT}::ImportRFRDSRSiemens", "total DAP plane A",
                 "0.000016 Gy·m²", "record.per_plane.single.dap_gy_cm2", 0.16),
    OpenremValue(ZEE, f"{IMPORT}::ImportRFRDSRSiemens", "total DAP",
                 "0.000016 Gy·m²", "record.dap_gy_cm2", 0.16),
    OpenremValue(ZEE, f"{IMPORT}::ImportRFRDSRSiemens", "total RP dose plane A",
                 "0.00252 Gy", "record.per_plane.single.ka_r_mgy", 2.52),
    OpenremValue(ZEE, f"{IMPORT}::ImportRFRDSRSiemens", "number of events",
                 "8", "record.irradiation_events", 8),
    OpenremValue(ZEE, f"{IMPORT}::ImportRFRDSRSiemens", "number of planes",
                 "1", "record.planes#count", 1),
    OpenremValue(ZEE, DETAIL, "fluoroscopy DAP", "16.0 cGy·cm²",
                 "record.dap_fluoro_gy_cm2", 0.16),
    OpenremValue(ZEE, DETAIL, "fluoroscopy RP dose", "0.00252 Gy",
                 "record.ka_r_fluoro_mgy", 2.52),
    OpenremValue(ZEE, DETAIL, "fluoroscopy time", "28.00 s", "record.fluoro_time_s", 28.0),
    OpenremValue(ZEE, DETAIL, "acquisition DAP", "0 cGy·cm²",
                 "record.dap_acquisition_gy_cm2", 0.0),
    OpenremValue(ZEE, DETAIL, "acquisition RP dose", "0 Gy", "record.ka_r_acquisition_mgy", 0.0),
    OpenremValue(ZEE, DETAIL, "acquisition time", "0 s", "record.acquisition_time_s", 0.0),
    OpenremValue(ZEE, DETAIL, "total DAP", "16.0 cGy·cm²", "record.dap_gy_cm2", 0.16),
    OpenremValue(ZEE, DETAIL, "total RP dose", "0.00252 Gy", "record.ka_r_mgy", 2.52),
    OpenremValue(ZEE, DETAIL, "total time", "28.00 s", "record.irradiation_time_s", 28.0),
    OpenremValue(ZEE, f"{EXPORT}::test_id_as_text", "patient ID as text",
                 "098765", "record.patient_id", "098765"),
    OpenremValue(ZEE, f"{EXPORT}::test_id_as_text", "accession number as text",
                 "1234.5678", "record.accession_number", "1234.5678"),
    OpenremValue(ZEE, f"{EXPORT}::test_id_as_text", "A dose RP total",
                 "0.00252 Gy", "record.per_plane.single.ka_r_mgy", 2.52),
    OpenremValue(ZEE, f"{EXPORT}::test_filters", "protocol of the 10:11:54 event (sheet)",
                 "fl_-_ang", "events[0].protocol", "FL - Ang"),
    OpenremValue(ZEE, f"{EXPORT}::test_filters", "event 10:11:54 start",
                 "2016-05-12 10:11:54", "events[0].start#local", "2016-05-12T10:11:54"),
    OpenremValue(ZEE, f"{EXPORT}::test_filters", "event 10:11:54 filter material",
                 "Cu", "events[0].filter_materials", "Cu"),
    OpenremValue(ZEE, f"{EXPORT}::test_filters", "event 10:11:54 mean filter thickness",
                 "0.6000 mm", "events[0].filter_thicknesses", "0.6000"),
    OpenremValue(ZEE, f"{FILTERS}::test_filter_patient_weight", "patient weight",
                 "none (excluded by every weight filter)", "record.patient.weight", None),
    OpenremValue(ZEE, f"{FILTERS}::test_filter_acquisition_protocol",
                 "no protocol containing '2fps'", "not matched",
                 "events.protocol_contains:2fps", False),
    OpenremValue(ZEE, f"{FILTERS}::test_filter_study_desc",
                 "study description without 'liuotushoidon raajojen'", "not matched",
                 "record.study_description_contains:liuotushoidon raajojen", False),
    # --- Philips Allura Xper -------------------------------------------------------------------
    OpenremValue(ALLURA, f"{IMPORT}::ImportRFRDSRPhilips", "event 1 collimated field height",
                 "(164.5+164.5)*1.194 mm", "events[0].technique.collimated_field_height.value",
                 392.826),
    OpenremValue(ALLURA, f"{IMPORT}::ImportRFRDSRPhilips", "event 1 collimated field width",
                 "(131+131)*1.194 mm", "events[0].technique.collimated_field_width.value",
                 312.828),
    OpenremValue(ALLURA, f"{IMPORT}::ImportRFRDSRPhilips", "event 1 collimated field area",
                 "height*width/1e6 m²", "events[0].technique.collimated_field_area.value",
                 392.826 * 312.828 / 1e6),
    OpenremValue(ALLURA, f"{IMPORT}::ImportRFRDSRPhilips", "performing physician",
                 "Yamada^Tarou=山田^太郎=やまだ^たろう", "record.performing_physicians[0]",
                 "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    OpenremValue(ALLURA, DETAIL, "fluoroscopy DAP", "10.558274 cGy·cm²",
                 "record.dap_fluoro_gy_cm2", 0.10558274),
    OpenremValue(ALLURA, DETAIL, "fluoroscopy RP dose", "0.000293081169 Gy",
                 "record.ka_r_fluoro_mgy", 0.293081169),
    OpenremValue(ALLURA, DETAIL, "fluoroscopy time", "13.00 s", "record.fluoro_time_s", 13.0),
    OpenremValue(ALLURA, DETAIL, "acquisition DAP", "143.010366 cGy·cm²",
                 "record.dap_acquisition_gy_cm2", 1.43010366),
    OpenremValue(ALLURA, DETAIL, "acquisition RP dose", "0.003978199182 Gy",
                 "record.ka_r_acquisition_mgy", 3.978199182),
    OpenremValue(ALLURA, DETAIL, "acquisition time", "14.75 s",
                 "record.acquisition_time_s", 14.75),
    OpenremValue(ALLURA, DETAIL, "stationary acquisition DAP", "143.0104 cGy·cm²",
                 "subtotals.stationary-acquisition.dap_gy_cm2", 1.43010366),
    OpenremValue(ALLURA, DETAIL, "stationary acquisition RP dose", "0.003978199182 Gy",
                 "subtotals.stationary-acquisition.ka_r_mgy", 3.978199182),
    OpenremValue(ALLURA, DETAIL, "stationary acquisition time", "14.75 s",
                 "subtotals.stationary-acquisition.duration_s", 14.75),
    OpenremValue(ALLURA, DETAIL, "total DAP", "153.56864 cGy·cm²", "record.dap_gy_cm2",
                 1.5356864),
    OpenremValue(ALLURA, DETAIL, "total RP dose", "0.004271280351 Gy", "record.ka_r_mgy",
                 4.271280351),
    OpenremValue(ALLURA, DETAIL, "total time", "27.75 s", "record.irradiation_time_s", 27.75),
    OpenremValue(ALLURA, f"{EXPORT}::test_filters",
                 "filter materials, first event of 'Abdomen 2fps 25%' (sheet abdomen_2fps_25%)", "Cu | Al",
                 "protocol[Abdomen 2fps 25%].filter_materials", "Cu | Al"),
    OpenremValue(ALLURA, f"{EXPORT}::test_filters",
                 "mean filter thicknesses, same event", "0.1000 | 1.0000",
                 "protocol[Abdomen 2fps 25%].filter_thicknesses", "0.1000 | 1.0000"),
    OpenremValue(ALLURA, f"{FILTERS}::test_filter_patient_weight", "patient weight",
                 "86.2 kg (80-90 kept, >=90 and <=80 excluded)",
                 "record.patient.weight.value", 86.2),
    OpenremValue(ALLURA, f"{FILTERS}::test_filter_acquisition_protocol",
                 "a protocol containing '2fps'", "matched",
                 "events.protocol_contains:2fps", True),
    OpenremValue(ALLURA, f"{FILTERS}::test_filter_study_desc",
                 "study description containing 'liuotushoidon raajojen'", "matched",
                 "record.study_description_contains:liuotushoidon raajojen", True),
    OpenremValue(ALLURA, f"{FILTERS}::test_filter_study_desc", "accession number",
                 "01234.1234", "record.accession_number", "01234.1234"),
    # --- GE OEC surgical C-arm (ESP 21 cm FPD Super-C) -----------------------------------
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "device observer UID",
                 "1.3.6.1.4.1.45593.912345678.9876543123", "record.device.uid",
                 "1.3.6.1.4.1.45593.912345678.9876543123"),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "fluoro DAP total",
                 "0.00024126 Gy·m²", "record.dap_fluoro_gy_cm2", 2.4126),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "fluoro RP dose total",
                 "0.01173170 Gy", "record.ka_r_fluoro_mgy", 11.7317),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "acquisition DAP total",
                 "0 Gy·m²", "record.dap_acquisition_gy_cm2", 0.0),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "acquisition RP dose total",
                 "0 Gy", "record.ka_r_acquisition_mgy", 0.0),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "event 4 start",
                 "2019-03-16 13:27:25", "events[3].start#local", "2019-03-16T13:27:25"),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "event 4 reference point definition",
                 "113861", "events[3].technique.reference_point_definition.code", "113861"),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "event 4 UID",
                 "1.3.6.1.4.1.5962.99.1.3577657414.286912992.1554060884038.8.0", "events[3].uid",
                 "1.3.6.1.4.1.5962.99.1.3577657414.286912992.1554060884038.8.0"),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "event 4 DAP",
                 "0.00004334 Gy·m²", "events[3].dap_gy_cm2", 0.4334),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "event 4 RP dose",
                 "0.00210763 Gy", "events[3].ka_r_mgy", 2.10763),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "event 4 collimated field area",
                 "0.04196800 m²", "events[3].technique.collimated_field_area.value", 0.041968),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "event 4 average tube current",
                 "18.90340042 mA", "events[3].technique.average_tube_current.value",
                 18.90340042),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "event 4 grid (meaning)",
                 "Fixed Grid", "events[3].technique.grid.meaning", "Fixed Grid"),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "event 4 grid (code)",
                 "111641", "events[3].technique.grid.code", "111641"),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "total DAP plane A",
                 "0.00024126 Gy·m²", "record.per_plane.single.dap_gy_cm2", 2.4126),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "total DAP",
                 "0.00024126 Gy·m²", "record.dap_gy_cm2", 2.4126),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "total RP dose plane A",
                 "0.01173170 Gy", "record.per_plane.single.ka_r_mgy", 11.7317),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "number of events",
                 "8", "record.irradiation_events", 8),
    OpenremValue(GE, f"{IMPORT}::ImportRFRDSRGESurgical", "number of planes",
                 "1", "record.planes#count", 1),
    # --- GE OEC Elite MiniView (no template identifier) --------------------------------------
    OpenremValue(MINIVIEW, f"{IMPORT}::ImportRFRDSRGEOECMiniView", "fluoro DAP total",
                 "0.0000013316568 Gy·m²", "record.dap_fluoro_gy_cm2", 0.013316568),
    OpenremValue(MINIVIEW, f"{IMPORT}::ImportRFRDSRGEOECMiniView", "fluoro RP dose total",
                 "0.00022034578 Gy", "record.ka_r_fluoro_mgy", 0.22034578),
    OpenremValue(MINIVIEW, f"{IMPORT}::ImportRFRDSRGEOECMiniView", "acquisition DAP total",
                 "0 Gy·m²", "record.dap_acquisition_gy_cm2", 0.0),
    OpenremValue(MINIVIEW, f"{IMPORT}::ImportRFRDSRGEOECMiniView", "acquisition RP total",
                 "0 Gy", "record.ka_r_acquisition_mgy", 0.0),
    # --- Canon Ultimax-i (RP dose written in mGy) ---------------------------------------------
    OpenremValue(ULTIMAX, f"{IMPORT}::ImportRFRDSRCanonUltimaxi", "fluoro RP dose total",
                 "0.025664 Gy", "record.ka_r_fluoro_mgy", 25.664),
    OpenremValue(ULTIMAX, f"{IMPORT}::ImportRFRDSRCanonUltimaxi", "acquisition RP dose total",
                 "0.004909 Gy", "record.ka_r_acquisition_mgy", 4.909),
    OpenremValue(ULTIMAX, f"{IMPORT}::ImportRFRDSRCanonUltimaxi", "RP dose total",
                 "0.030573 Gy", "record.ka_r_mgy", 30.573),
    OpenremValue(ULTIMAX, f"{IMPORT}::ImportRFRDSRCanonUltimaxi", "event 1 RP dose",
                 "0.000384 Gy", "events[0].ka_r_mgy", 0.384),
)

# test_rf_high_dose_alert.py loads RF-RDSR-Siemens-Zee.dcm and a copy dated two days earlier
# (RF-RDSR-Siemens-Zee_adjusted.dcm, not in ../shared/samples: the system test makes that copy
# from the sample), cumulates over 2 weeks and alerts at the levels below.
# (level name, DAP alert Gy·cm², Ka,r alert mGy): which totals / cumulative values alert.
ZEE_PAIR_CUMULATIVE = {
    # study date: (cumulative DAP Gy·cm² over 2 weeks, cumulative Ka,r mGy, exams counted)
    "2016-05-10": (0.16, 2.52, 1),  # "16.0" cGy·cm², "0.00252" Gy, "(1 exam)"
    "2016-05-12": (0.32, 5.04, 2),  # "32.0" cGy·cm², "0.00504" Gy, "(2 exams)"
}
ZEE_PAIR_ALERTS = (
    # (DAP alert Gy·cm², Ka,r alert mGy, study date, alerts expected on that record)
    (0.30, 5.0, "2016-05-10", frozenset()),  # alert_total_dap_rf 30 cGy·cm², rp 0.0050 Gy
    (0.30, 5.0, "2016-05-12", frozenset({"cumulative:dap", "cumulative:ka_r"})),
    (0.15, 2.5, "2016-05-10", frozenset({"procedure:dap", "cumulative:dap",
                                         "procedure:ka_r", "cumulative:ka_r"})),
    (0.15, 2.5, "2016-05-12", frozenset({"procedure:dap", "cumulative:dap",
                                         "procedure:ka_r", "cumulative:ka_r"})),
)
# fmt: on
