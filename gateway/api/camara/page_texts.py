"""The texts of the verification page, per language (the gateway's eight): the title,
what to do, the button, the continue link and the live statuses. The SMS text itself
stays the same in every language: it is read by the gateway, not by people."""
from __future__ import annotations

TEXTS = {
    "en": {"title": "Verify your phone number",
           "explain": "Tap the button: your messages app opens with a text ready. Send it as "
                      "it is; your mobile network tells us the number it comes from. It "
                      "costs one standard SMS.",
           "send": "Send the verification SMS", "continue": "Continue",
           "pending": "Waiting for your SMS…", "proven": "Your number is verified.",
           "refused": "The SMS came from another number than the one expected: send it "
                      "from the phone whose number you gave.",
           "expired": "This request expired: start again.",
           "used": "This verification was already used: start again."},
    "fr": {"title": "Vérifiez votre numéro de téléphone",
           "explain": "Touchez le bouton : votre application de messages s'ouvre avec un "
                      "texte prêt. Envoyez-le tel quel ; votre réseau mobile nous indique le "
                      "numéro d'où il vient. Cela coûte un SMS standard.",
           "send": "Envoyer le SMS de vérification", "continue": "Continuer",
           "pending": "En attente de votre SMS…", "proven": "Votre numéro est vérifié.",
           "refused": "Le SMS vient d'un autre numéro que celui attendu : envoyez-le depuis "
                      "le téléphone dont vous avez donné le numéro.",
           "expired": "Cette demande a expiré : recommencez.",
           "used": "Cette vérification a déjà servi : recommencez."},
    "de": {"title": "Bestätigen Sie Ihre Telefonnummer",
           "explain": "Tippen Sie auf die Schaltfläche: Ihre Nachrichten-App öffnet sich mit "
                      "einem fertigen Text. Senden Sie ihn unverändert; Ihr Mobilfunknetz "
                      "teilt uns die Absendernummer mit. Es kostet eine normale SMS.",
           "send": "Bestätigungs-SMS senden", "continue": "Weiter",
           "pending": "Warte auf Ihre SMS…", "proven": "Ihre Nummer ist bestätigt.",
           "refused": "Die SMS kam von einer anderen als der erwarteten Nummer: senden Sie "
                      "sie von dem Telefon, dessen Nummer Sie angegeben haben.",
           "expired": "Diese Anfrage ist abgelaufen: beginnen Sie neu.",
           "used": "Diese Bestätigung wurde bereits verwendet: beginnen Sie neu."},
    "es": {"title": "Verifique su número de teléfono",
           "explain": "Toque el botón: su aplicación de mensajes se abre con un texto listo. "
                      "Envíelo tal cual; su red móvil nos indica el número de origen. Cuesta "
                      "un SMS normal.",
           "send": "Enviar el SMS de verificación", "continue": "Continuar",
           "pending": "Esperando su SMS…", "proven": "Su número está verificado.",
           "refused": "El SMS llegó de otro número que el esperado: envíelo desde el "
                      "teléfono cuyo número indicó.",
           "expired": "Esta solicitud ha caducado: empiece de nuevo.",
           "used": "Esta verificación ya se usó: empiece de nuevo."},
    "it": {"title": "Verifica il tuo numero di telefono",
           "explain": "Tocca il pulsante: l'app dei messaggi si apre con un testo pronto. "
                      "Invialo così com'è; la tua rete mobile ci indica il numero di "
                      "provenienza. Costa un SMS normale.",
           "send": "Invia l'SMS di verifica", "continue": "Continua",
           "pending": "In attesa del tuo SMS…", "proven": "Il tuo numero è verificato.",
           "refused": "L'SMS è arrivato da un numero diverso da quello atteso: invialo dal "
                      "telefono di cui hai indicato il numero.",
           "expired": "Questa richiesta è scaduta: ricomincia.",
           "used": "Questa verifica è già stata usata: ricomincia."},
    "nl": {"title": "Bevestig uw telefoonnummer",
           "explain": "Tik op de knop: uw berichten-app opent met een kant-en-klare tekst. "
                      "Verstuur die ongewijzigd; uw mobiele netwerk vertelt ons van welk "
                      "nummer hij komt. Het kost één gewone sms.",
           "send": "Verificatie-sms versturen", "continue": "Doorgaan",
           "pending": "Wachten op uw sms…", "proven": "Uw nummer is bevestigd.",
           "refused": "De sms kwam van een ander nummer dan verwacht: verstuur hem vanaf de "
                      "telefoon waarvan u het nummer gaf.",
           "expired": "Dit verzoek is verlopen: begin opnieuw.",
           "used": "Deze verificatie is al gebruikt: begin opnieuw."},
    "pl": {"title": "Zweryfikuj swój numer telefonu",
           "explain": "Dotknij przycisku: aplikacja wiadomości otworzy się z gotowym tekstem. "
                      "Wyślij go bez zmian; sieć komórkowa poda nam numer nadawcy. Kosztuje "
                      "to jeden zwykły SMS.",
           "send": "Wyślij SMS weryfikacyjny", "continue": "Dalej",
           "pending": "Czekamy na Twój SMS…", "proven": "Twój numer jest zweryfikowany.",
           "refused": "SMS przyszedł z innego numeru niż oczekiwany: wyślij go z telefonu, "
                      "którego numer podano.",
           "expired": "To żądanie wygasło: zacznij od nowa.",
           "used": "Ta weryfikacja została już użyta: zacznij od nowa."},
    "pt": {"title": "Verifique o seu número de telefone",
           "explain": "Toque no botão: a sua aplicação de mensagens abre com um texto pronto. "
                      "Envie-o tal como está; a sua rede móvel indica-nos o número de origem. "
                      "Custa um SMS normal.",
           "send": "Enviar o SMS de verificação", "continue": "Continuar",
           "pending": "À espera do seu SMS…", "proven": "O seu número está verificado.",
           "refused": "O SMS veio de outro número que o esperado: envie-o do telefone cujo "
                      "número indicou.",
           "expired": "Este pedido expirou: comece de novo.",
           "used": "Esta verificação já foi usada: comece de novo."},
}
