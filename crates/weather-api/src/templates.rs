//! HTML templates (minijinja), embedded in the binary with `include_str!`; auto-escaping is on for every
//! template (all end in `.html`).

use minijinja::Environment;

/// The compiled templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

/// Failure to render a template (a programming error: the templates are compiled into the binary).
pub type RenderError = minijinja::Error;

impl Templates {
    /// Loads the embedded templates.
    ///
    /// # Errors
    /// When an embedded template does not compile (caught by the test suite).
    pub fn new() -> Result<Self, RenderError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_template("layout.html", include_str!("../templates/layout.html"))?;
        env.add_template("index.html", include_str!("../templates/index.html"))?;
        env.add_template(
            "not_found.html",
            include_str!("../templates/not_found.html"),
        )?;
        Ok(Self { env })
    }

    /// Renders `name` with `context`.
    ///
    /// # Errors
    /// When the template is unknown or fails to render.
    pub fn render(
        &self,
        name: &str,
        context: impl serde::Serialize,
    ) -> Result<String, RenderError> {
        self.env.get_template(name)?.render(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile_and_escape_html() {
        let t = Templates::new().unwrap();
        let html = t
            .render("not_found.html", minijinja::context! { path => "<script>" })
            .unwrap();
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }
}
