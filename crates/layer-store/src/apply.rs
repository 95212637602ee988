//! Applying layer archives onto a directory, safely (being written).
