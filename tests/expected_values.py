"""The values ../shared/samples/EXPECTED.md gives for the fluoroscopy dose reports.

One table for every test that checks them (extraction, study summary, the CLI end to end).
Each row: file, fluoroscopy time s, acquisition time s, DAP Gy·cm², Ka,r mGy, irradiation
events, first event start, last event start.
"""

from __future__ import annotations

# fmt: off
FLUORO_TABLE: list[tuple[str, float, float, float, float, int, str, str]] = [
    ("RF-RDSR-Siemens-Zee.dcm", 28, 0, 0.16, 2.52, 8,
     "2016-05-12 10:11:54", "2016-05-12 10:24:45"),
    ("RF-RDSR-Philips_Allura.dcm", 13, 14.75, 1.5357, 4.2713, 3,
     "2016-03-15 08:44:13.294", "2016-03-15 08:44:45.433"),
    ("RF-RDSR-GE.dcm", 72.46, 0, 2.4126, 11.7317, 8,
     "2019-03-16 13:26:23", "2019-03-16 13:29:05"),
    ("RF-RDSR-GE-OECEliteMiniView.dcm", 11.18, 0, 0.013317, 0.22035, 22,
     "2019-03-08 10:58:16.821", "2019-03-08 11:21:24.982"),
    ("RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm", 111, 1.25, 12.6596, 30.573, 18,
     "2020-01-08 14:40:20", "2020-01-08 14:46:37"),
    ("Dual-RDSR-RF.dcm", 4, 2, 0.0212, 0.1, 4,
     "2018-04-13 13:13:26.0488", "2018-04-13 13:14:05.0856"),
]
# fmt: on

# The Siemens ARCADIS private summary: fluoroscopy time and DAP only.
VARIC = ("RF-ESR-Siemens-Varic.dcm", 34.427, 0.2359)
