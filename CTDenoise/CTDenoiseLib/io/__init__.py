"""Files in and out: CT volumes (NRRD, NIfTI, MHA, DICOM series), label masks, derived DICOM series and sending
them to a PACS, batch inputs and output names, file integrity and permissions, atomic writes."""
