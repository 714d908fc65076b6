"""Quality metrics (FID, KID, precision/recall, density/coverage) and their feature spaces."""
