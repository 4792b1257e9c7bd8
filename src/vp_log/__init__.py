"""vp_log: a procedure log for vertebral augmentation and sacroplasty, fed by DICOM."""

__version__ = "0.1.0"
