//! Creating layer archives from directories (being written).
