"""The feature cache: a backbone's pooled and spatial features per image, extracted once
(`mlcap extract-features`) and read back as batches by ``--features FILE.h5`` (training, predict).

    cache_file      the HDF5 file's layout, opening it, checking it is a cache and fits a run
    extract         writing it (`mlcap extract-features`), resumable
    feature_loader  a split of it as a dataset and loader of feature batches
    store           its rows held or streamed within ``--features-memory`` / ``--features-dtype``

Nothing is imported here: ``mlcap.features.store`` needs numpy alone, the others torch and h5py.
"""
