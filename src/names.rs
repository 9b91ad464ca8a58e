//! One definition per name. [`named_enum!`](crate::named_enum) declares an enum whose variants each carry their
//! wire name and their documentation in one place, and derives from it `ALL` (every variant,
//! in documentation order), `as_str`, `parse`, `doc` and `Display`. Flags, shapes and problem
//! kinds are declared with it, so a new variant cannot be added without a name and a sentence,
//! and a test checks that the README documents every name.

/// Declares a named enum: `Variant = "wire_name"`, each preceded by its doc comment.
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[doc = $doc:literal])+ $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl $name {
            /// Every variant, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in every output format and on the command line.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant of a name, if it is one.
            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            /// The variant's documentation, one line per doc-comment line.
            pub fn doc(self) -> &'static str {
                match self {
                    $($name::$variant => concat!($($doc, "\n"),+),)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::named_enum! {
        #[derive(Debug, Clone, Copy, PartialEq)]
        enum Colour {
            /// Like a ripe tomato.
            Red = "red",
            /// Like the sky
            /// on a clear day.
            SkyBlue = "sky_blue",
        }
    }

    #[test]
    fn names_docs_and_all_come_from_one_definition() {
        assert_eq!(Colour::ALL, &[Colour::Red, Colour::SkyBlue]);
        assert_eq!(Colour::SkyBlue.as_str(), "sky_blue");
        assert_eq!(Colour::parse("red"), Some(Colour::Red));
        assert_eq!(Colour::parse("blue"), None);
        assert_eq!(Colour::SkyBlue.doc(), " Like the sky\n on a clear day.\n");
        assert_eq!(Colour::Red.to_string(), "red");
    }
}
