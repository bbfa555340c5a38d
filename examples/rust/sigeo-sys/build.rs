//! Links libsigeo (pkg-config, or SIGEO_LIB_DIR) and, for the layout test,
//! compiles and runs a small C program that prints sizeof/offsetof of every
//! struct field listed in src/generated.rs. std only.
use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn pkg_config(args: &[&str]) -> Option<String> {
    let out = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
        .args(args)
        .output()
        .ok()?;
    if out.status.success() {
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        None
    }
}

fn main() {
    for v in ["SIGEO_LIB_DIR", "SIGEO_INCLUDE_DIR", "PKG_CONFIG_PATH", "PKG_CONFIG_SYSROOT_DIR", "CC"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    println!("cargo:rerun-if-changed=src/generated.rs");
    let mut cflags: Vec<String> = Vec::new();
    if let Ok(dir) = env::var("SIGEO_LIB_DIR") {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-lib=dylib=sigeo");
        if let Ok(inc) = env::var("SIGEO_INCLUDE_DIR") {
            cflags.push(format!("-I{inc}"));
        }
    } else if let Some(libs) = pkg_config(&["--libs", "sigeo"]) {
        for f in libs.split_whitespace() {
            if let Some(d) = f.strip_prefix("-L") {
                println!("cargo:rustc-link-search=native={d}");
            } else if let Some(l) = f.strip_prefix("-l") {
                println!("cargo:rustc-link-lib=dylib={l}");
            }
        }
        cflags = pkg_config(&["--cflags", "sigeo"]).unwrap_or_default().split_whitespace().map(String::from).collect();
    } else {
        println!("cargo:warning=libsigeo not found by pkg-config (set PKG_CONFIG_PATH, or SIGEO_LIB_DIR); linking -lsigeo");
        println!("cargo:rustc-link-lib=dylib=sigeo");
    }

    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let (ok, why, body) = match c_layout(&cflags, &out_dir) {
        Ok(body) => (true, String::new(), body),
        Err(e) => {
            println!("cargo:warning=layout probe not built: {e}");
            (false, e, String::new())
        }
    };
    let rs = format!(
        "pub const C_LAYOUT_AVAILABLE: bool = {ok};\npub const C_LAYOUT_WHY: &str = {why:?};\n\
         pub const C_LAYOUT: &[(&str, usize, &[usize])] = &[\n{body}];\n"
    );
    fs::write(out_dir.join("c_layout.rs"), rs).unwrap();
}

/// The (struct, [fields]) list of generated.rs's STRUCT_FIELDS.
fn struct_fields() -> Vec<(String, Vec<String>)> {
    let src = fs::read_to_string("src/generated.rs").expect("src/generated.rs");
    let start = src.find("pub const STRUCT_FIELDS").expect("STRUCT_FIELDS in generated.rs");
    let mut out = Vec::new();
    for line in src[start..].lines().skip(1) {
        let line = line.trim();
        if line.starts_with("];") {
            break;
        }
        let q: Vec<&str> = line.split('"').collect(); // ("name", &["a", "b"]),
        let names: Vec<String> = q.iter().skip(1).step_by(2).map(|s| s.to_string()).collect();
        out.push((names[0].clone(), names[1..].to_vec()));
    }
    out
}

fn c_layout(cflags: &[String], out_dir: &PathBuf) -> Result<String, String> {
    let mut c = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include \"sigeo/data.h\"\n#include \"sigeo/io.h\"\n\
         #include \"sigeo/model.h\"\n#include \"sigeo/proxy.h\"\n#include \"sigeo/search.h\"\n\
         #include \"sigeo/stats.h\"\n#include \"sigeo/train.h\"\n#include \"sigeo/nas.h\"\nint main(void) {\n",
    );
    for (s, fields) in struct_fields() {
        c += &format!("    printf(\"    (\\\"{s}\\\", %zu, &[\", sizeof({s}));\n");
        for f in fields {
            c += &format!("    printf(\"%zu, \", offsetof({s}, {f}));\n");
        }
        c += "    printf(\"]),\\n\");\n";
    }
    c += "    return 0;\n}\n";
    let src = out_dir.join("layout_probe.c");
    let exe = out_dir.join("layout_probe");
    fs::write(&src, c).map_err(|e| e.to_string())?;
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(cflags)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .map_err(|e| format!("{cc}: {e}"))?;
    if !status.status.success() {
        return Err(format!("{cc} failed: {}", String::from_utf8_lossy(&status.stderr)));
    }
    let run = Command::new(&exe).output().map_err(|e| e.to_string())?;
    if !run.status.success() {
        return Err("layout probe failed".into());
    }
    Ok(String::from_utf8_lossy(&run.stdout).into_owned())
}
