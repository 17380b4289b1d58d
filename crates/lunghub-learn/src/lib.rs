//! Diagnostic models for lunghub (issue 7). So far: [`metrics`], the evaluation of a binary
//! classifier's scores (ROC and PR areas, operating points, cost-minimising thresholds,
//! calibration and temperature scaling, intervals by resampling patients), checked against
//! scikit-learn. Models, training and inference are still to come.

pub mod metrics;
