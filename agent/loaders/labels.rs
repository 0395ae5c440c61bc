//! What users call a loader: a Tomcat context path, the JSP a Jasper loader compiled, a Spring
//! Boot application or DevTools restart.

use crate::ffi::jni::Env;
use jni::sys::jobject;
use leakagent_report::model::Loader;
use std::collections::HashMap;

/// A Tomcat web application loader's context path (`/examples`; `/` for ROOT), read from its
/// fields (`WebappClassLoaderBase.resources` -> `StandardRoot.context` -> `StandardContext.path`):
/// no Java code runs, so this is safe inside a ClassLoad or ClassPrepare callback.
pub fn tomcat_context_path(env: &Env, loader: jobject) -> Option<String> {
    let resources = env.object_field(loader, c"resources", c"Lorg/apache/catalina/WebResourceRoot;");
    if resources.is_null() {
        return None;
    }
    let context = env.object_field(resources.raw(), c"context", c"Lorg/apache/catalina/Context;");
    if context.is_null() {
        return None;
    }
    env.string(env.object_field(context.raw(), c"path", c"Ljava/lang/String;").raw()).map(|p| if p.is_empty() { "/".to_string() } else { p })
}

/// Loaders whose label is read from their fields at report time (their fields are set after
/// the loader defines its first class).
fn labelled_by_fields(class: &str) -> bool {
    class.ends_with(".webapp.WebAppClassLoader") || class == "org.codehaus.plexus.classworlds.realm.ClassRealm"
}

/// Labels alive loaders that Jetty or Maven made from their fields, without running Java code:
/// a Jetty `WebAppClassLoader` by its context path and name (`/leaky (leaky)`, from
/// `_context._contextPath` and `_name`), a Maven `ClassRealm` by its realm id.
pub fn label_by_fields(env: &Env, loaders: &mut [Loader], objects: &[(u32, jobject)]) {
    let by_id: HashMap<u32, jobject> = objects.iter().copied().collect();
    for l in loaders.iter_mut().filter(|l| l.alive && l.label.is_none() && labelled_by_fields(&l.class)) {
        let Some(&obj) = by_id.get(&l.id) else { continue };
        let string = |o: jobject, name: &std::ffi::CStr| env.string(env.object_field(o, name, c"Ljava/lang/String;").raw());
        l.label = if l.class.ends_with("ClassRealm") {
            string(obj, c"id").map(|id| format!("realm {id}"))
        } else {
            let sig = std::ffi::CString::new(format!("L{}$Context;", l.class.replace('.', "/"))).ok();
            let context = sig.map(|sig| env.object_field(obj, c"_context", &sig));
            let path = context.filter(|c| !c.is_null()).and_then(|c| string(c.raw(), c"_contextPath"));
            jetty_label(path, string(obj, c"_name"))
        };
    }
}

/// A Jetty web application loader's label: its context path, with its name when the
/// application set one (the default name is the loader's hash code).
fn jetty_label(path: Option<String>, name: Option<String>) -> Option<String> {
    let name = name.filter(|n| !n.is_empty() && !n.bytes().all(|b| b.is_ascii_digit()));
    match (path, name) {
        (Some(p), Some(n)) => Some(format!("{p} (WebAppClassLoader{{{n}}})")),
        (Some(p), None) => Some(p),
        (None, Some(n)) => Some(format!("WebAppClassLoader{{{n}}}")),
        (None, None) => None,
    }
}

/// Whether any alive loader waits for `label_by_fields`.
pub fn wants_fields(loaders: &[Loader]) -> bool {
    loaders.iter().any(|l| l.alive && l.label.is_none() && labelled_by_fields(&l.class))
}

/// Names for loaders whose class says what they are, and for Jasper's per-JSP loaders the JSP
/// (the context path of their parent plus the page, from the class Jasper generated).
pub fn label_loaders(loaders: &mut [Loader]) {
    let by_id: HashMap<u32, Option<String>> = loaders.iter().map(|l| (l.id, l.label.clone())).collect();
    for l in loaders.iter_mut().filter(|l| l.label.is_none()) {
        l.label = match l.class.as_str() {
            // Every restart makes one; the id tells them apart, as in the loader table.
            "org.springframework.boot.devtools.restart.classloader.RestartClassLoader" => {
                Some(format!("Spring Boot DevTools restart #{}", l.id))
            }
            "org.springframework.boot.loader.LaunchedURLClassLoader" | "org.springframework.boot.loader.launch.LaunchedClassLoader" => {
                Some("Spring Boot application".into())
            }
            "org.apache.jasper.servlet.JasperLoader" => l.sample_class.as_deref().and_then(jsp_page).map(|page| {
                match l.parent.and_then(|p| by_id.get(&p).cloned().flatten()) {
                    Some(ctx) => format!("{}{page}", ctx.trim_end_matches('/')),
                    None => format!("JSP {page}"),
                }
            }),
            _ => None,
        };
    }
}

/// The page a Jasper-generated class comes from: `org.apache.jsp.jsp.dates.date_jsp` is
/// `/jsp/dates/date.jsp`, `org.apache.jsp.tag.web.panel_tag` is `/WEB-INF/tags/panel.tag`
/// (Jasper writes `.` as `_` and other characters as `_` and four hex digits).
fn jsp_page(class: &str) -> Option<String> {
    let rest = class.strip_prefix("org.apache.jsp.")?;
    let (dir, rest) = match rest.strip_prefix("tag.web.") {
        Some(r) => ("/WEB-INF/tags", r),
        None => ("", rest),
    };
    let rest = rest.split('$').next().unwrap_or(rest);
    let mut out = String::from(dir);
    for part in rest.split('.') {
        out.push('/');
        let b = part.as_bytes();
        let mut i = 0;
        while i < b.len() {
            // Jasper's escapes are `_00` and two lower-case hex digits (ASCII punctuation).
            let hex = b
                .get(i + 1..i + 5)
                .filter(|h| h.starts_with(b"00") && h[2..].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)))
                .and_then(|h| u8::from_str_radix(std::str::from_utf8(&h[2..]).ok()?, 16).ok());
            match (b[i], hex) {
                (b'_', Some(c)) => {
                    out.push(c as char);
                    i += 5;
                }
                (b'_', _) => {
                    out.push('.');
                    i += 1;
                }
                (c, _) => {
                    out.push(c as char);
                    i += 1;
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::generations::tests::loader;
    use super::*;

    #[test]
    fn loaders_get_the_names_users_know() {
        assert_eq!(jsp_page("org.apache.jsp.jsp.dates.date_jsp").as_deref(), Some("/jsp/dates/date.jsp"));
        assert_eq!(jsp_page("org.apache.jsp.jsp.jsp2.el.basic_002darithmetic_jsp").as_deref(), Some("/jsp/jsp2/el/basic-arithmetic.jsp"));
        assert_eq!(jsp_page("org.apache.jsp.thread_jsp$1").as_deref(), Some("/thread.jsp"));
        assert_eq!(jsp_page("org.apache.jsp.tag.web.panel_tag").as_deref(), Some("/WEB-INF/tags/panel.tag"));
        assert_eq!(jsp_page("com.acme.Page"), None);
        let mut ls = vec![
            Loader { label: Some("/examples".into()), ..loader(5, "org.apache.catalina.loader.ParallelWebappClassLoader", None, None, true) },
            Loader { parent: Some(5), sample_class: Some("org.apache.jsp.jsp.snp.snoop_jsp".into()), ..loader(6, "org.apache.jasper.servlet.JasperLoader", None, None, true) },
            Loader { parent: Some(9), sample_class: Some("org.apache.jsp.index_jsp".into()), ..loader(7, "org.apache.jasper.servlet.JasperLoader", None, None, true) },
            loader(8, "org.springframework.boot.devtools.restart.classloader.RestartClassLoader", None, None, true),
        ];
        label_loaders(&mut ls);
        let labels: Vec<_> = ls.iter().map(|l| l.label.as_deref().unwrap_or("-")).collect();
        assert_eq!(labels, ["/examples", "/examples/jsp/snp/snoop.jsp", "JSP /index.jsp", "Spring Boot DevTools restart #8"]);
        assert_eq!(jetty_label(Some("/leaky".into()), Some("leaky".into())).as_deref(), Some("/leaky (WebAppClassLoader{leaky})"));
        assert_eq!(jetty_label(Some("/shop".into()), Some("12345678".into())).as_deref(), Some("/shop"), "the default name is a hash code");
        assert!(labelled_by_fields("org.eclipse.jetty.ee10.webapp.WebAppClassLoader"));
        assert!(labelled_by_fields("org.eclipse.jetty.webapp.WebAppClassLoader"));
    }
}
