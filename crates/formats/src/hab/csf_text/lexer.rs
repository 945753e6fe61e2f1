//! Splits a description into tokens, removing comments and joining
//! continued lines.

use std::fmt;

use super::{error, CsfTextError, CsfTextErrorKind};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TokenKind {
    OpenBracket,
    CloseBracket,
    Equals,
    Comma,
    /// Letters and digits starting with a letter.
    Word(String),
    Number(u32),
    /// `major.minor`, as in `Version = 4.3`.
    Version(u32, u32),
    /// A quoted string, without the quotes.
    Text(String),
    EndOfLine,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OpenBracket => f.write_str("'['"),
            Self::CloseBracket => f.write_str("']'"),
            Self::Equals => f.write_str("'='"),
            Self::Comma => f.write_str("','"),
            Self::Word(word) => write!(f, "'{word}'"),
            Self::Number(number) => write!(f, "{number:#x}"),
            Self::Version(major, minor) => write!(f, "{major}.{minor}"),
            Self::Text(text) => write!(f, "\"{text}\""),
            Self::EndOfLine => f.write_str("the end of the line"),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) kind: TokenKind,
    pub(super) line: usize,
}

pub(super) struct Lexer<'a> {
    pub(super) chars: std::iter::Peekable<std::str::Chars<'a>>,
    pub(super) line: usize,
    pub(super) tokens: Vec<Token>,
}

pub(super) fn lex(text: &str) -> Result<Vec<Token>, CsfTextError> {
    let mut lexer = Lexer {
        chars: text.chars().peekable(),
        line: 1,
        tokens: Vec::new(),
    };
    while let Some(character) = lexer.chars.next() {
        lexer.lex_one(character)?;
    }
    lexer.push(TokenKind::EndOfLine);
    Ok(lexer.tokens)
}

impl Lexer<'_> {
    pub(super) fn push(&mut self, kind: TokenKind) {
        self.tokens.push(Token { kind, line: self.line });
    }

    pub(super) fn lex_one(&mut self, character: char) -> Result<(), CsfTextError> {
        match character {
            '\n' => {
                self.push(TokenKind::EndOfLine);
                self.line += 1;
            }
            ' ' | '\t' | '\r' => {}
            '#' => self.skip_comment(),
            '[' => self.push(TokenKind::OpenBracket),
            ']' => self.push(TokenKind::CloseBracket),
            '=' => self.push(TokenKind::Equals),
            ',' => self.push(TokenKind::Comma),
            '"' => self.lex_text()?,
            '\\' => self.lex_continuation()?,
            '0'..='9' => self.lex_number(character)?,
            'a'..='z' | 'A'..='Z' => self.lex_word(character),
            other => return Err(error(self.line, CsfTextErrorKind::UnexpectedCharacter(other))),
        }
        Ok(())
    }

    pub(super) fn skip_comment(&mut self) {
        while self.chars.next_if(|&next| next != '\n').is_some() {}
    }

    pub(super) fn lex_text(&mut self) -> Result<(), CsfTextError> {
        let mut text = String::new();
        loop {
            match self.chars.next() {
                Some('"') => break,
                Some('\n') | None => return Err(error(self.line, CsfTextErrorKind::UnterminatedString)),
                Some(other) => text.push(other),
            }
        }
        self.push(TokenKind::Text(text));
        Ok(())
    }

    /// Joins the next line to this one after a `\`, which only blanks may
    /// follow.
    pub(super) fn lex_continuation(&mut self) -> Result<(), CsfTextError> {
        while self.chars.next_if(|&next| matches!(next, ' ' | '\t' | '\r')).is_some() {}
        match self.chars.next() {
            Some('\n') => {
                self.line += 1;
                Ok(())
            }
            None => Ok(()),
            Some(_) => Err(error(self.line, CsfTextErrorKind::MisplacedContinuation)),
        }
    }

    pub(super) fn lex_word(&mut self, first: char) {
        let mut word = String::from(first);
        while let Some(next) = self.chars.next_if(char::is_ascii_alphanumeric) {
            word.push(next);
        }
        self.push(TokenKind::Word(word));
    }

    pub(super) fn lex_number(&mut self, first: char) -> Result<(), CsfTextError> {
        let mut text = String::from(first);
        while let Some(next) = self.chars.next_if(|next| next.is_ascii_alphanumeric() || *next == '.') {
            text.push(next);
        }

        let kind = match text.split_once('.') {
            Some((major, minor)) => TokenKind::Version(self.number(major)?, self.number(minor)?),
            None => TokenKind::Number(self.number(&text)?),
        };
        self.push(kind);
        Ok(())
    }

    pub(super) fn number(&self, text: &str) -> Result<u32, CsfTextError> {
        let invalid = || error(self.line, CsfTextErrorKind::InvalidNumber { text: text.to_owned() });
        let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex) => (hex, 16),
            None => (text, 10),
        };
        if digits.is_empty() || !digits.chars().all(|digit| digit.is_digit(radix)) {
            return Err(invalid());
        }
        u32::from_str_radix(digits, radix)
            .map_err(|_| error(self.line, CsfTextErrorKind::NumberOverflow { text: text.to_owned() }))
    }
}
