//! The original prompt loop, fed through stdin.

use crate::helpers::{spawn_dev_service, Weather};

#[tokio::test]
async fn interactive_mode_reports_then_lists_from_piped_input_and_exits_on_an_empty_line() {
    let service = spawn_dev_service().await;
    let run = Weather::new(&service)
        .run_with_input(
            &["interactive"],
            Some("r\nMisty sunrise\nPortland\nOR\ns\n\nignored after the empty line\n"),
        )
        .await;
    let stdout = run.ok();
    assert_eq!(
        stdout
            .matches("[R]eport weather or [s]ee reports? ")
            .count(),
        3,
        "{stdout}"
    );
    assert!(
        stdout.contains("What is happening now? What city? What state?"),
        "{stdout}"
    );
    assert!(stdout.contains("Reported new event: "), "{stdout}");
    assert!(stdout.contains("portland has Misty sunrise"), "{stdout}");
    let reports = service.api_reports().await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["description"], "Misty sunrise");
    assert_eq!(reports[0]["location"]["state"], "or");
    let id = reports[0]["id"].as_str().unwrap();
    assert!(
        stdout.contains(&format!("Reported new event: {id}")),
        "{stdout}"
    );
}

#[tokio::test]
async fn no_subcommand_runs_the_loop_and_explains_an_unknown_choice_until_end_of_input() {
    let service = spawn_dev_service().await;
    let run = Weather::new(&service)
        .run_with_input(&[], Some("x\nS\n"))
        .await;
    let stdout = run.ok();
    assert!(stdout.contains("Don't know what to do with x."), "{stdout}");
    assert!(stdout.contains("No reports yet."), "{stdout}");
    assert_eq!(
        stdout
            .matches("[R]eport weather or [s]ee reports? ")
            .count(),
        3
    );
}

#[tokio::test]
async fn interactive_failure_is_printed_the_loop_goes_on_and_the_exit_code_tells() {
    let service = spawn_dev_service().await;
    let run = Weather::new(&service)
        .run_with_input(&[], Some("r\nRain\nPortland\nOregon\ns\n\n"))
        .await;
    assert_eq!(run.code, 6, "{run:#?}");
    assert!(
        run.stderr
            .contains("the service refused the request (HTTP 422): Invalid state"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("No reports yet."), "{}", run.stdout);
}
