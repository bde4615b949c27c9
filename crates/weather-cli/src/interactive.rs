//! The original `reportapp` loop: `[R]eport weather or [s]ee reports?` until an empty line (or the end of
//! the input). A failed call prints its message and the loop goes on; the exit code is the last failure's.

use std::io::Write;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::api::{Location, NewReport};
use crate::error::CliError;
use crate::session::Session;

/// The main prompt, as in the original.
pub(crate) const PROMPT: &str = "[R]eport weather or [s]ee reports? ";

/// Runs the loop over `input`, writing prompts and results to `out` and failures to stderr.
///
/// # Errors
/// [`CliError::Io`] when the input cannot be read or the output written. Failed API calls are not errors
/// of the loop: their exit code is returned.
pub(crate) async fn run<R: AsyncBufRead + Unpin>(
    session: &mut Session,
    input: R,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let mut lines = input.lines();
    let mut last_failure = 0u8;
    writeln!(
        out,
        "Weather reporter for {} (an empty line quits)",
        session.api_url()
    )?;
    loop {
        let Some(choice) = ask(&mut lines, out, PROMPT).await? else {
            break;
        };
        let result = match choice.trim().to_lowercase().as_str() {
            "" => break,
            "r" => report(session, &mut lines, out).await,
            "s" => see(session, out).await,
            _ => {
                writeln!(out, "Don't know what to do with {}.", choice.trim())?;
                Ok(())
            }
        };
        match result {
            Ok(()) => {}
            Err(CliError::Io(e)) => return Err(CliError::Io(e)),
            Err(e) => {
                crate::print_error(&e);
                last_failure = e.exit_code();
            }
        }
    }
    Ok(last_failure)
}

async fn ask<R: AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    out: &mut dyn Write,
    prompt: &str,
) -> Result<Option<String>, CliError> {
    write!(out, "{prompt}")?;
    out.flush()?;
    let line = lines.next_line().await?;
    if line.is_none() {
        // End of input: finish the prompt's line.
        writeln!(out)?;
    }
    Ok(line)
}

async fn report<R: AsyncBufRead + Unpin>(
    session: &mut Session,
    lines: &mut tokio::io::Lines<R>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let description = ask(lines, out, "What is happening now? ").await?;
    let city = ask(lines, out, "What city? ").await?;
    let state = ask(lines, out, "What state? (two letters, Enter to skip) ").await?;
    let (Some(description), Some(city)) = (description, city) else {
        return Ok(());
    };
    if description.trim().is_empty() || city.trim().is_empty() {
        writeln!(
            out,
            "Nothing reported: a description and a city are needed."
        )?;
        return Ok(());
    }
    let state = state.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let report = NewReport {
        description: description.trim().to_owned(),
        location: Location {
            city: city.trim().to_owned(),
            state,
            country: Some("US".to_owned()),
        },
    };
    let stored = session.add_report(&report).await?;
    writeln!(out, "Reported new event: {}", stored.id)?;
    Ok(())
}

async fn see(session: &mut Session, out: &mut dyn Write) -> Result<(), CliError> {
    let reports = session.reports(None, false).await?;
    if reports.is_empty() {
        writeln!(out, "No reports yet.")?;
    }
    for r in reports {
        writeln!(out, "{} has {}", r.location.city, r.description)?;
    }
    Ok(())
}
