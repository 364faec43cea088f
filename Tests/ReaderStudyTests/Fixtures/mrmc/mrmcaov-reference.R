# Writes mrmcaov-reference.json: MRMCaov's results at full precision for the datasets it ships
# (VanDyke, Franken — Franken is the one where Cov2 < Cov3, so Hillis's constraint applies), with
# jackknife, DeLong and unbiased covariances and random / fixed-reader / fixed-case analyses; and
# Kundel, whose screen-film patients differ from its computed-radiography patients: as shipped
# (three treatments, partially paired: MRMCaov's design -1) and as two cases-nested-within-tests
# comparisons (screen-film vs each computed radiogram: MRMCaov's design 3). Where MRMCaov refuses an
# analysis (DeLong on an unpaired design), its error message goes into "refusals".
#
# Run with MRMCaov installed (library(MRMCaov)), or with its R/ folder sourced:
#   Rscript mrmcaov-reference.R [path/to/MRMCaov/R] > mrmcaov-reference.json
# The committed JSON came from MRMCaov 0.3.0 (github.com/brian-j-smith/MRMCaov @ d79e49b, R/ sourced)
# on R 4.2.2 (Debian bookworm r-base-core), with tibble, ggplot2, progress and mvtnorm from Debian.
args <- commandArgs(trailingOnly = TRUE)
if (length(args) > 0) {
  suppressMessages({library(tibble); library(ggplot2); library(progress); library(mvtnorm)})
  for (f in list.files(args[1], pattern = "[.]R$", full.names = TRUE)) source(f)
  version <- "0.3.0 (sourced)"
} else {
  suppressMessages(library(MRMCaov))
  version <- as.character(packageVersion("MRMCaov"))
}
here <- function(name) {
  file <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  file.path(dirname(normalizePath(file)), name)
}
num <- function(x) if (is.na(x)) "null" else sprintf("\"%.17g\"", x)
obj <- function(...) {
  kv <- list(...)
  kv <- kv[!vapply(kv, is.null, logical(1))]
  paste0("{", paste0("\"", names(kv), "\": ", unlist(kv), collapse = ", "), "}")
}
arr <- function(items) paste0("[", paste(items, collapse = ",\n        "), "]")
col <- function(df, name) if (name %in% names(df)) df[[name]] else rep(NA, nrow(df))

analysis <- function(dataset, label, est, metric, covariance, factors, treatments = NULL, file = dataset) {
  s <- summary(est)
  te <- s$test_equality
  ms <- meansq(est)
  comps <- NULL
  if (!is.null(s$vcov_comps)) {
    v <- s$vcov_comps
    comps <- obj(reader = num(v["reader", "Estimate"]), treatmentReader = num(v["treatment:reader", "Estimate"]),
                 error = num(v["Error", "Estimate"]), cov1 = num(v["Cov1", "Estimate"]), cov2 = num(v["Cov2", "Estimate"]),
                 cov3 = num(v["Cov3", "Estimate"]), corr1 = num(v["Cov1", "Correlation"]), corr2 = num(v["Cov2", "Correlation"]),
                 corr3 = num(v["Cov3", "Correlation"]))
  }
  stat <- if ("X2" %in% names(te)) te$X2 else te$F
  df1 <- if ("df" %in% names(te)) te$df else te$df1
  global <- obj(denominator = if ("Denominator" %in% names(te)) num(te$Denominator) else NULL,
                value = num(stat), df1 = num(df1), df2 = if ("df2" %in% names(te)) num(te$df2) else NULL, p = num(te$`p-value`))
  d <- s$test_diffs
  statcol <- if ("t" %in% names(d)) d$t else d$z
  diffs <- vapply(seq_len(nrow(d)), function(i) obj(
    estimate = num(d$Estimate[i]), standardError = num(d$StdErr[i]), df = if ("df" %in% names(d)) num(d$df[i]) else NULL,
    lower = num(d$CI[i, 1]), upper = num(d$CI[i, 2]), statistic = num(statcol[i]), p = num(d$`p-value`[i])), "")
  m <- s$test_means
  means <- vapply(seq_len(nrow(m)), function(i) obj(
    estimate = num(m$Estimate[i]),
    readerMeanSquare = if ("MS(R)" %in% names(m)) num(m$`MS(R)`[i]) else NULL,
    errorVariance = if ("Var(Error)" %in% names(m)) num(m$`Var(Error)`[i]) else NULL,
    cov2 = if ("Cov2" %in% names(m)) num(m$Cov2[i]) else NULL,
    standardError = num(m$StdErr[i]), df = if ("df" %in% names(m)) num(m$df[i]) else NULL,
    lower = num(m$CI[i, 1]), upper = num(m$CI[i, 2])), "")
  parts <- c(
    sprintf("\"name\": \"%s: %s\"", dataset, label), sprintf("\"data\": \"%s.csv\"", file),
    sprintf("\"metric\": \"%s\"", metric), if (!is.null(covariance)) sprintf("\"covariance\": \"%s\"", covariance),
    sprintf("\"factors\": \"%s\"", factors), sprintf("\"design\": \"%d\"", est$design),
    if (!is.null(treatments)) sprintf("\"treatments\": [%s]", paste0("\"", treatments, "\"", collapse = ", ")),
    if (!is.null(comps)) paste0("\"components\": ", comps),
    paste0("\"meanSquares\": ", obj(treatment = num(ms[["T"]]), reader = num(ms[["R"]]), treatmentReader = num(ms[["T:R"]]))),
    paste0("\"global\": ", global), paste0("\"differences\": ", arr(diffs)), paste0("\"means\": ", arr(means)))
  if (!is.null(s$reader_test_diffs)) {
    r <- s$reader_test_diffs
    # MRMCaov 0.3.0's reader_test_diffs() computes one standard error per reader but puts them in a
    # data frame whose rows are reader × comparison, so R recycles them: with more than two treatments
    # (Kundel) rows get another reader's standard error (R warns "row names were found from a short
    # variable"). Each row's is recomputed here with MRMCaov's own vcov_comps() for that row's reader,
    # and its CI, z and p with reader_test_diffs()'s formulas. With two treatments nothing changes.
    r$StdErr <- unname(vapply(as.character(r$Reader), function(reader) {
      comps <- vcov_comps(est, reader = reader)
      sqrt(2 * (comps$var - comps$cov[1]))
    }, numeric(1)))
    conf.level <- 0.95
    r$CI <- with(r, Estimate + qnorm((1 + conf.level) / 2) * StdErr %o% c(Lower = -1, Upper = 1))
    r$z <- with(r, Estimate / StdErr)
    r$`p-value` <- with(r, 2 * (1 - pnorm(abs(z))))
    parts <- c(parts, paste0("\"readerDifferences\": ", arr(vapply(seq_len(nrow(r)), function(i) obj(
      reader = sprintf("\"%s\"", r$Reader[i]), estimate = num(r$Estimate[i]), standardError = num(r$StdErr[i]),
      lower = num(r$CI[i, 1]), upper = num(r$CI[i, 2]), statistic = num(r$z[i]), p = num(r$`p-value`[i])), ""))))
  }
  if (!is.null(s$reader_means)) {
    r <- s$reader_means
    parts <- c(parts, paste0("\"readerMeans\": ", arr(vapply(seq_len(nrow(r)), function(i) obj(
      treatment = sprintf("\"%s\"", r[[2]][i]), reader = sprintf("\"%s\"", r[[3]][i]), estimate = num(r[[1]][i]),
      standardError = num(r$StdErr[i]), lower = num(r$CI[i, 1]), upper = num(r$CI[i, 2])), ""))))
  }
  paste0("    {", paste(parts, collapse = ",\n      "), "}")
}

out <- character()
for (dataset in c("VanDyke", "Franken")) {
  data <- read.csv(here(paste0(dataset, ".csv")))
  # mrmc() evaluates its arguments in its own frame: the method goes by a global name, not `cov`.
  for (covname in c("jackknife", "DeLong", "unbiased")) {
    est <- mrmc(empirical_auc(truth, rating), treatment, reader, case, data = data, cov = covname)
    out <- c(out, analysis(dataset, paste("empirical AUC,", covname, "covariance, random readers and cases"), est, "auc", covname, "rrrc"))
    est <- mrmc(empirical_auc(truth, rating), treatment, fixed(reader), case, data = data, cov = covname)
    out <- c(out, analysis(dataset, paste("empirical AUC,", covname, "covariance, fixed readers"), est, "auc", covname, "frrc"))
  }
  est <- mrmc(empirical_auc(truth, rating), treatment, reader, fixed(case), data = data)
  out <- c(out, analysis(dataset, "empirical AUC, fixed cases", est, "auc", NULL, "rrfc"))
  data$call <- data$rating >= 3
  est <- mrmc(binary_sens(truth, call), treatment, reader, case, data = data)
  out <- c(out, analysis(dataset, "sensitivity at rating >= 3, jackknife, random readers and cases", est, "sensitivity\", \"threshold\": \"3", "jackknife", "rrrc"))
  est <- mrmc(binary_spec(truth, call), treatment, reader, case, data = data)
  out <- c(out, analysis(dataset, "specificity at rating >= 3, jackknife, random readers and cases", est, "specificity\", \"threshold\": \"3", "jackknife", "rrrc"))
}
refusals <- character()
kundel <- read.csv(here("Kundel.csv"))
for (pair in list(NULL, c(1, 2), c(1, 3))) {
  data <- if (is.null(pair)) kundel else subset(kundel, treatment %in% pair)
  design <- if (is.null(pair)) NULL else 3
  label <- if (is.null(pair)) "Kundel" else sprintf("Kundel %d vs %d", pair[1], pair[2])
  for (covname in c("jackknife", "unbiased")) {
    est <- mrmc(empirical_auc(truth, rating), treatment, reader, case, data = data, cov = covname, design = design)
    out <- c(out, analysis(label, paste("empirical AUC,", covname, "covariance, random readers and cases"), est, "auc", covname, "rrrc", pair, "Kundel"))
    est <- mrmc(empirical_auc(truth, rating), treatment, fixed(reader), case, data = data, cov = covname, design = design)
    out <- c(out, analysis(label, paste("empirical AUC,", covname, "covariance, fixed readers"), est, "auc", covname, "frrc", pair, "Kundel"))
  }
  est <- mrmc(empirical_auc(truth, rating), treatment, reader, fixed(case), data = data, design = design)
  out <- c(out, analysis(label, "empirical AUC, fixed cases", est, "auc", NULL, "rrfc", pair, "Kundel"))
  data$call <- data$rating >= 3
  est <- mrmc(binary_sens(truth, call), treatment, reader, case, data = data, design = design)
  out <- c(out, analysis(label, "sensitivity at rating >= 3, jackknife, random readers and cases", est, "sensitivity\", \"threshold\": \"3", "jackknife", "rrrc", pair, "Kundel"))
  est <- mrmc(binary_spec(truth, call), treatment, reader, case, data = data, design = design)
  out <- c(out, analysis(label, "specificity at rating >= 3, jackknife, random readers and cases", est, "specificity\", \"threshold\": \"3", "jackknife", "rrrc", pair, "Kundel"))
  covname <- "DeLong"
  message <- tryCatch({
    mrmc(empirical_auc(truth, rating), treatment, reader, case, data = data, cov = covname, design = design); NA
  }, error = function(e) conditionMessage(e))
  stopifnot(!is.na(message))
  refusals <- c(refusals, paste0("    {", paste(c(
    sprintf("\"name\": \"%s: empirical AUC, DeLong covariance\"", label), "\"data\": \"Kundel.csv\"",
    if (!is.null(pair)) sprintf("\"treatments\": [%s]", paste0("\"", pair, "\"", collapse = ", ")),
    "\"covariance\": \"DeLong\"", sprintf("\"error\": \"%s\"", message)), collapse = ", "), "}"))
}
cat("{\n  \"about\": \"MRMCaov ", version, " results at full precision (%.17g), written by mrmcaov-reference.R on ", R.version.string, "\",\n",
    "  \"analyses\": [\n", paste(out, collapse = ",\n"), "\n  ],\n",
    "  \"refusals\": [\n", paste(refusals, collapse = ",\n"), "\n  ]\n}\n", sep = "")
